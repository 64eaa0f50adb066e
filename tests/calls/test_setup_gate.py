"""A burst of calls sets up a few at a time (each set-up may hold two DB connections)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tests.calls.harness import Factory, FakeRuntime, default_stages, running_server, seed
from tests.calls.wire import new_call_sid, open_stream, stream_of, voice_webhook
from voxroute.db.models import Call
from voxroute.emulators import EmulatorSuite
from voxroute.routing.types import ResolvedStage

CALLS = 6
GATE = 2


@dataclass
class SlowSetupRuntime(FakeRuntime):
    """Key resolution that takes a while and counts how many run at once."""

    active: int = 0
    peak: int = 0
    resolved: int = 0

    async def resolve_stages(self, session: AsyncSession, call: Call) -> list[ResolvedStage]:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(0.2)
            self.resolved += 1
            return list(self.stages)
        finally:
            self.active -= 1


async def _greeted(base: str) -> bool:
    sid = new_call_sid()
    status, twiml = await voice_webhook(base, sid)
    stream = stream_of(twiml)
    assert status == 200 and stream is not None
    async with open_stream(stream, sid) as line:
        return await line.wait_for_audio(0.2, within_s=20)


async def test_a_burst_of_calls_sets_up_at_most_the_gate_at_once(
    session_factory: Factory, suite: EmulatorSuite
) -> None:
    await seed(session_factory)
    async with running_server(
        session_factory,
        twilio_api_base_url=suite.base_urls["twilio"],
        runtime_class=SlowSetupRuntime,
        max_concurrent_setups=GATE,
    ) as (base, runtime):
        assert isinstance(runtime, SlowSetupRuntime)
        runtime.stages = default_stages(suite)
        greeted = await asyncio.gather(*(_greeted(base) for _ in range(CALLS)))

    assert all(greeted)  # every call of the burst was set up and spoke
    assert runtime.resolved == CALLS
    assert runtime.peak == GATE  # the burst queued at the gate, never more at once
