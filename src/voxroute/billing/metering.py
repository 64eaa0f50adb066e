"""Billing's live-call side: holds, usage, settlement, the sweeper.

- At call start `hold_call` holds credit in the call's connect transaction (refused with
  `InsufficientCredit`).
- While it runs, a ticker extends every live call's hold; when it cannot, the call is ended
  politely (the hang-up the runtime hands in carries the reason, `insufficient_credit`).
- Usage deltas from the pipeline go to the bounded `UsageRecorder` (durable while the call
  runs) *and* are kept per call in memory, so settlement passes the complete list: the billing
  store is idempotent per (call, stage, unit, seq), so nothing is lost or doubled.
- At the end the connected time is recorded as `transport_ms` (the platform fee's clock)
  and the call is settled exactly once; a call whose process died is settled by the sweeper
  from what was recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from voxroute.billing.policy import BillingPolicy
from voxroute.billing.reservations import extend_many, hold_credit, settle, sweep
from voxroute.billing.usage import UsageRecorder
from voxroute.db.base import utcnow
from voxroute.errors import BillingError
from voxroute.tasks import TaskGroup
from voxroute.usage import UsageEvent

log = logging.getLogger("voxroute.metering")
# Connected time is metered on the carrier that carries the call (the org's own account).
TRANSPORT_PROVIDER = ("twilio", "media-stream")
MS_PER_SECOND = 1000
EXTEND_BATCH = 200  # holds renewed per write transaction
# Ends a live call whose credit hold cannot be renewed (the registry, with its end reason).
HangUp = Callable[[str], Awaitable[bool]]
# Background tasks get this long to finish at shutdown.
STOP_GRACE_S = 5.0
# Sweeper grace, in renewal periods: a live call's own settle beats the sweeper.
SWEEP_GRACE_PERIODS = 2


class Metering:
    """Billing for the live calls of this process. Nothing here runs on the audio path."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        policy: BillingPolicy,
        *,
        hold_micros: int = 100_000,
        extend_every_s: float = 30.0,
        sweep_every_s: float = 30.0,
        on_sweep_failures: Callable[[int], None] = lambda count: None,
    ) -> None:
        self._factory = factory
        self.policy = policy
        self.hold_micros = max(hold_micros, policy.min_call_balance_micros)
        self._extend_every_s = extend_every_s
        self._sweep_every_s = sweep_every_s
        self._on_sweep_failures = on_sweep_failures
        self.recorder = UsageRecorder(factory, policy.pricing)
        self._seq: dict[tuple[str, str, str], itertools.count[int]] = defaultdict(itertools.count)
        self._events: dict[str, list[UsageEvent]] = {}
        self._held: dict[str, str] = {}  # call_id -> org_id
        self._tasks = TaskGroup("metering")
        self._hang_up: HangUp | None = None

    async def start(self, hang_up: HangUp | None = None) -> None:
        self._hang_up = hang_up
        await self.recorder.start()
        self._tasks.spawn(self._every(self._extend_every_s, self.extend_all), "extend-holds")
        self._tasks.spawn(self._every(self._sweep_every_s, self.sweep_once), "sweeper")

    async def stop(self) -> None:
        await self._tasks.cancel_all(grace_s=STOP_GRACE_S)
        unwritten = await self.recorder.stop()
        if unwritten:
            log.error("%d usage events could not be written at shutdown", len(unwritten))

    async def hold_call(self, session: AsyncSession, *, org_id: str, call_id: str) -> None:
        """Hold a starting call's credit inside the write transaction that marks it connected.

        `InsufficientCredit` refuses the call. The hold is renewed from the moment that
        transaction commits; if it rolls back, there is nothing to renew.
        """
        await hold_credit(
            session,
            org_id=org_id,
            call_id=call_id,
            amount_micros=self.hold_micros,
            policy=self.policy,
        )

        def committed(_session: Session) -> None:
            self._held[call_id] = org_id
            self._events.setdefault(call_id, [])

        event.listen(session.sync_session, "after_commit", committed, once=True)

    @property
    def held_calls(self) -> frozenset[str]:
        """Calls whose holds this process renews."""
        return frozenset(self._held)

    def record_usage(self, event: UsageEvent) -> None:
        """Accept one usage delta of a live call: number it, keep it, queue it for writing."""
        if event.quantity <= 0:
            return
        usage = self._numbered(event)
        self._events.setdefault(event.call_id, []).append(usage)
        if not self.recorder.try_record(usage):
            log.warning("usage queue full; call %s keeps its events for settlement", event.call_id)

    def _numbered(self, event: UsageEvent) -> UsageEvent:
        seq = next(self._seq[(event.call_id, event.stage, event.unit)])
        return dataclasses.replace(event, seq=seq)

    async def settle_call(
        self, *, org_id: str, call_id: str, connected_at: datetime | None, duration_s: float
    ) -> None:
        """Record connected time, then settle once; failures are left to the sweeper."""
        events = self._events.pop(call_id, [])
        held_org = self._held.pop(call_id, None)
        connected_ms = round(duration_s * MS_PER_SECOND) if connected_at else 0
        if connected_ms > 0:
            provider, model = TRANSPORT_PROVIDER
            transport = UsageEvent(
                org_id=org_id,
                call_id=call_id,
                stage="transport",
                provider=provider,
                model=model,
                key_source="organization",  # the org's own carrier account carries the call
                unit="transport_ms",
                quantity=connected_ms,
                occurred_at=utcnow(),
            )
            events.append(self._numbered(transport))
        for key in [k for k in self._seq if k[0] == call_id]:
            del self._seq[key]
        if held_org is None:
            return  # never held (refused before the hold): nothing to settle
        try:
            await settle(
                self._factory, org_id=held_org, call_id=call_id, policy=self.policy, usage=events
            )
        except BillingError as exc:
            log.warning(
                "call %s not settled now (%s); the sweeper will settle it", call_id, exc.code
            )

    async def extend_all(self) -> None:
        """Renew every live call's hold, `EXTEND_BATCH` calls per write transaction.

        A call whose org's credit runs short, or whose hold is gone, is ended politely.
        """
        held = list(self._held.items())
        for start in range(0, len(held), EXTEND_BATCH):
            batch = dict(held[start : start + EXTEND_BATCH])
            try:
                renewal = await extend_many(
                    self._factory, list(batch), amount_micros=self.hold_micros, policy=self.policy
                )
            except (BillingError, SQLAlchemyError) as exc:  # the next period retries
                log.warning("could not renew %d call holds: %s", len(batch), type(exc).__name__)
                continue
            for call_id in renewal.closed:  # settled or swept: nothing left to renew here
                self._held.pop(call_id, None)
                self._events.pop(call_id, None)
            for call_id in sorted(renewal.short | renewal.closed):
                log.info("call %s: its credit hold cannot be renewed, ending politely", call_id)
                if self._hang_up is not None:
                    await self._hang_up(call_id)

    async def sweep_once(self) -> None:
        period_s = max(self._extend_every_s, self._sweep_every_s)
        grace = timedelta(seconds=period_s * SWEEP_GRACE_PERIODS)
        report = await sweep(self._factory, policy=self.policy, now=utcnow(), grace=grace)
        if report.settled or report.released:
            log.info("sweeper: %s", report)
        if report.failed:
            self._on_sweep_failures(report.failed)

    @staticmethod
    async def _every(interval_s: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await action()
            except (BillingError, SQLAlchemyError, OSError) as exc:  # the next run retries
                log.warning("metering task failed: %s", exc)
