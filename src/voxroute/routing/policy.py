"""The pure heart of key resolution: which candidate key serves a stage, and why.

Candidates come in priority order of scope: assistant, organization, managed. The first
scope that *has* a key for the provider claims the stage. Within that scope the key pool is
tried by priority, skipping keys marked invalid or cooling down after a 429. When the claiming
scope has no usable key the failure policy decides: `strict` fails the stage (a BYO key that
fails is never silently replaced by the platform's key); `fallback_to_managed` moves to the
managed key only when every BYO key is merely rate-limited, and records `managed_fallback`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from voxroute.credentials.status import CredentialStatus
from voxroute.errors import InvalidInput, KeyNotFound
from voxroute.routing.types import FAILURE_POLICIES, FailurePolicy, KeySource, Stage


def effective_policy(assistant_policy: str | None, org_policy: str | None) -> FailurePolicy:
    """The assistant's override, else the org's policy, else `strict`.

    Raises `InvalidInput` on a value that is not a policy: the API only stores known ones,
    so this means a corrupt row.
    """
    policy = assistant_policy or org_policy or "strict"
    for known in FAILURE_POLICIES:
        if policy == known:
            return known
    raise InvalidInput(f"unknown failure policy '{policy}'")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One key that could serve a stage (metadata only: no secret here)."""

    source: KeySource
    credential_id: str | None
    version: int | None
    priority: int = 0
    status: CredentialStatus = CredentialStatus.ACTIVE
    cooldown_until: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.status == CredentialStatus.ACTIVE and (
            self.cooldown_until is None or self.cooldown_until <= now
        )

    @property
    def rate_limited(self) -> bool:
        return self.status == CredentialStatus.ACTIVE and self.cooldown_until is not None


@dataclass(frozen=True, slots=True)
class Decision:
    """The key chosen for a stage, the scope it came from, and why a fallback happened (if so)."""

    candidate: Candidate
    source: KeySource
    fallback_reason: str | None = None


def decide(
    *,
    stage: Stage,
    provider: str,
    assistant_keys: list[Candidate],
    org_keys: list[Candidate],
    managed: Candidate | None,
    policy: FailurePolicy,
    now: datetime,
) -> Decision:
    """Pick the key for one stage, or raise KeyNotFound with a reason a person can act on."""
    for scope_keys in (assistant_keys, org_keys):
        if not scope_keys:
            continue
        pool = sorted(scope_keys, key=lambda c: -c.priority)
        for candidate in pool:
            if candidate.usable(now):
                return Decision(candidate=candidate, source=candidate.source)
        scope = pool[0].source
        all_rate_limited = all(c.rate_limited for c in pool)
        if policy == "fallback_to_managed" and all_rate_limited and managed is not None:
            return Decision(
                candidate=managed,
                source="managed_fallback",
                fallback_reason=f"{scope} keys for {provider} are rate-limited",
            )
        state = "rate-limited" if all_rate_limited else "invalid or disabled"
        raise KeyNotFound(
            f"{stage}: the {scope} key(s) for {provider} are {state} and the failure policy "
            f"is {policy}"
        )
    if managed is not None:
        return Decision(candidate=managed, source="managed")
    raise KeyNotFound(
        f"{stage}: no key configured for {provider} (assistant, organization or managed)"
    )
