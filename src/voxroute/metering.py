"""Glue between live calls and billing: usage events from the pipeline go to the recorder.

The call side reports float deltas (seconds, tokens, characters); billing stores integers
(milliseconds for audio). Conversion and per-(call, stage, unit) sequence numbers live here so
a replayed batch is stored once.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.billing import BillingPolicy, UsageEvent, UsageRecorder, call_cost_breakdown
from voxroute.billing.types import KeySource, MeteredStage, Unit
from voxroute.calls.runtime import CallReport
from voxroute.calls.runtime import UsageEvent as CallUsageEvent

log = logging.getLogger("voxroute.metering")
MILLI_UNITS = {"stt_seconds"}


class Metering:
    """Owns the usage recorder for this process; `record_usage` never blocks the audio path."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], policy: BillingPolicy) -> None:
        self._factory = factory
        self.policy = policy
        self.recorder = UsageRecorder(factory, policy.pricing)
        self._seq: dict[tuple[str, str, str], itertools.count[int]] = defaultdict(itertools.count)

    async def start(self) -> None:
        await self.recorder.start()

    async def stop(self) -> None:
        unwritten = await self.recorder.stop()
        if unwritten:
            log.error("%d usage events could not be written at shutdown", len(unwritten))

    def record_usage(self, event: CallUsageEvent) -> None:
        scale = 1000 if event.unit in MILLI_UNITS else 1
        quantity = round(event.quantity * scale)
        if quantity <= 0:
            return
        seq = next(self._seq[(event.call_id, event.stage, event.unit)])
        accepted = self.recorder.try_record(
            UsageEvent(
                org_id=event.org_id,
                call_id=event.call_id,
                stage=cast(MeteredStage, event.stage),
                provider=event.provider,
                model=event.model,
                key_source=cast(KeySource, event.source),
                unit=cast(Unit, event.unit),
                quantity=quantity,
                seq=seq,
                credential_id=event.credential_id,
                occurred_at=event.at,
            )
        )
        if not accepted:
            log.warning("usage queue full; event for call %s deferred", event.call_id)

    async def settle_call(self, report: CallReport) -> None:
        """Forget the call's sequence counters; settlement runs through billing's sweeper."""
        for key in [k for k in self._seq if k[0] == report.call.call_id]:
            del self._seq[key]

    async def cost_breakdown(self, *, org_id: str, call_id: str) -> object:
        return await call_cost_breakdown(
            self._factory, org_id=org_id, call_id=call_id, policy=self.policy
        )
