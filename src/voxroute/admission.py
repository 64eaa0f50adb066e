"""The one gate every call passes before it exists: who asks, worker capacity, credit, org cap.

Every entry path — the Twilio voice webhook, the browser web call, every later carrier and
SIP — calls `CallAdmission.admit()` once, before it hands out a media token. A path that
skips it has no way to get a token the media stream accepts, so a new path cannot quietly
bypass the tenant's concurrency cap or the worker's capacity::

    entry path ── admit(org, call, max_concurrent, principal?) ──▶ None (admitted: org slot leased)
                                                              └──▶ Refusal(reason, retry_after_s)

A draining node (`voxroute.drain`: SIGTERM, a rolling restart) refuses every new call here,
so each entry path gives the carrier its busy answer while the node's live calls finish.

The checks run cheapest first and only the last one takes something (the org slot lease),
so a refused call holds nothing. A call admitted but then never created (e.g. a replayed
webhook losing the insert race) gives its slot back with `cancel()`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.auth import Principal, Role
from voxroute.billing import read_balance
from voxroute.calls.registry import CallRegistry
from voxroute.calls.slots import OrgSlots, SlotsUnavailable
from voxroute.calls.state import EndReason
from voxroute.drain import Drain
from voxroute.errors import Forbidden

__all__ = ["CallAdmission", "Refusal"]

log = logging.getLogger(__name__)

# How long a refused caller should wait before trying again (Retry-After, SIP 503/486).
CAPACITY_RETRY_AFTER_S = 5
DRAINING_RETRY_AFTER_S = 1  # another node takes it; the load balancer knows by now
ORG_CAP_RETRY_AFTER_S = 10
CREDIT_RETRY_AFTER_S = 300
_AT_CAP = "the organization is at its concurrent-call limit"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call may not start now; `reason` is recorded as the call's end reason."""

    reason: EndReason
    retry_after_s: int
    detail: str


class CallAdmission:
    """Decides whether a new call may start; shared by every entry path of a worker."""

    def __init__(
        self,
        *,
        registry: CallRegistry,
        org_slots: OrgSlots,
        needed_micros: int,
        pending_ttl_s: float,
        drain: Drain | None = None,
    ) -> None:
        self._registry = registry
        self._drain = drain
        self._slots = org_slots
        self._needed_micros = needed_micros
        # A pending lease outlives the call token, so a media stream that never comes
        # frees its slot on its own.
        self._pending_ttl_s = pending_ttl_s

    async def admit(
        self,
        session: AsyncSession,
        *,
        org_id: str,
        call_id: str,
        max_concurrent: int,
        principal: Principal | None = None,
    ) -> Refusal | None:
        """Admit the call (its org slot is then leased) or say why not.

        `principal` is the API caller for calls started over the REST API; a carrier's
        webhook has none (its signature was verified instead). Only an owner of the org
        may start a call: members read. Raises `Forbidden` for a principal that may not.
        """
        if principal is not None:
            if principal.require_org() != org_id:
                raise Forbidden("the call belongs to another organization")
            principal.require(Role.OWNER)
        if self._drain is not None and self._drain.draining:
            return Refusal(
                EndReason.REJECTED_DRAINING,
                DRAINING_RETRY_AFTER_S,
                "this node is draining for a restart",
            )
        busy = self._registry.refusal_reason()
        if busy is not None:
            return Refusal(EndReason.REJECTED_CAPACITY, CAPACITY_RETRY_AFTER_S, busy)
        available = (await read_balance(session, org_id)).available_micros
        if available < self._needed_micros:
            return Refusal(
                EndReason.INSUFFICIENT_CREDIT,
                CREDIT_RETRY_AFTER_S,
                "the organization's credit cannot cover a call",
            )
        try:
            taken = await self._slots.acquire(
                org_id, call_id, limit=max_concurrent, ttl_s=self._pending_ttl_s
            )
        except SlotsUnavailable as exc:  # fail closed: the cap is a per-tenant guarantee
            log.warning("call %s refused: %s", call_id, exc.message)
            return Refusal(EndReason.ORG_CONCURRENCY_LIMIT, ORG_CAP_RETRY_AFTER_S, _AT_CAP)
        if not taken:
            log.info("call %s refused: org %s is at its concurrency cap", call_id, org_id)
            return Refusal(EndReason.ORG_CONCURRENCY_LIMIT, ORG_CAP_RETRY_AFTER_S, _AT_CAP)
        return None

    async def cancel(self, *, org_id: str, call_id: str) -> None:
        """Give back the slot of an admitted call that was never created."""
        try:
            await self._slots.release(org_id, call_id)
        except SlotsUnavailable:  # the pending lease expires on its own
            log.warning("call %s: could not release its org slot", call_id)
