"""'Check status': run each key's provider probe, store the outcome, audit it, rate-limit it.

The per-org limit keeps the endpoint from being a free checker for stolen keys.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.audit import AuditAction, record
from voxroute.credentials.store import CredentialScope, CredentialStore
from voxroute.errors import NotFound, RateLimited
from voxroute.providers.validation import check_credential

if TYPE_CHECKING:
    import aiohttp

__all__ = ["CheckLimiter", "KeyChecker"]
# The limiter's sliding window.
WINDOW_S = 60.0


class CheckLimiter:
    """At most `per_minute` keys checked per org in any sliding 60 s window (per process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._events: dict[str, deque[float]] = {}

    def acquire(self, org_id: str, count: int) -> None:
        now = time.monotonic()
        events = self._events.setdefault(org_id, deque())
        while events and now - events[0] > WINDOW_S:
            events.popleft()
        if len(events) + count > self.per_minute:
            raise RateLimited(
                f"key checks are limited to {self.per_minute} per minute per organization"
            )
        events.extend([now] * count)


class KeyChecker:
    """Runs 'check status' for an org's keys through the worker's shared HTTP session."""

    def __init__(
        self,
        store: CredentialStore,
        *,
        http: aiohttp.ClientSession,
        base_urls: Mapping[str, str],
        per_minute: int,
    ) -> None:
        self._store = store
        self._http = http
        # Provider endpoint overrides (emulators, tests); the real host when absent.
        self.base_urls = dict(base_urls)
        self.limiter = CheckLimiter(per_minute)

    async def check_org(
        self, session: AsyncSession, *, org_id: str, provider: str | None, actor: str
    ) -> list[dict[str, Any]]:
        creds = [
            c
            for c in await self._store.list(session, org_id=org_id, provider=provider)
            if c.scope != CredentialScope.TELEPHONY.value
        ]
        if not creds:
            raise NotFound("no keys to check" + (f" for {provider}" if provider else ""))
        self.limiter.acquire(org_id, len(creds))
        results: list[dict[str, Any]] = []
        for cred in creds:
            secrets = await self._store.open(session, cred)
            outcome = await check_credential(
                cred.provider,
                secrets,
                {k: str(v) for k, v in cred.public_fields.items()},
                base_url=self.base_urls.get(cred.provider),
                session=self._http,
            )
            self._store.record_check(cred, outcome.status, outcome.message)
            record(
                session,
                action=AuditAction.CREDENTIAL_VALIDATED,
                org_id=org_id,
                actor=actor,
                target_type="credential",
                target_id=cred.id,
                data={"provider": cred.provider, "status": outcome.status},
                secrets=[value.reveal() for value in secrets.values()],
            )
            results.append(
                {
                    "credential_id": cred.id,
                    "provider": cred.provider,
                    "label": cred.label,
                    "status": outcome.status,
                    "message": outcome.message,
                }
            )
        return results
