"""Insufficient credit (security-bar case 28) with real billing: refused politely at the
webhook, or — when the credit went between webhook and stream — ended at set-up."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.calls.harness import (
    Env,
    Factory,
    FakeRuntime,
    default_stages,
    ended_call,
    running_server,
    seed,
    stage,
    stored_call,
)
from tests.calls.wire import Line, new_call_sid, open_stream, stream_of, voice_webhook
from voxroute.billing import BillingPolicy, balance, debit, topup
from voxroute.billing.metering import Metering
from voxroute.calls.host import CallReport
from voxroute.db.models import Call, Reservation
from voxroute.emulators import EmulatorSuite
from voxroute.routing.types import ResolvedStage


@dataclass
class BillingRuntime(FakeRuntime):
    """The fake runtime with the real credit checks: the admission's credit check at the
    webhook and `Metering.hold_call` in the call's connect transaction, as
    `Runtime.start_call` does."""

    admission_needs_micros: int = 100_000  # Metering's default credit hold

    async def start_call(
        self, session: AsyncSession, call: Call, stages: Sequence[ResolvedStage]
    ) -> None:
        await self.billing.hold_call(session, org_id=call.org_id, call_id=call.id)

    async def on_call_ended(self, report: CallReport) -> None:
        await self.billing.settle_call(
            org_id=report.call.org_id,
            call_id=report.call.call_id,
            connected_at=report.connected_at,
            duration_s=report.duration_s,
        )
        await super().on_call_ended(report)


@dataclass
class Billed:
    env: Env
    org_id: str


@pytest.fixture
async def billed(session_factory: Factory, suite: EmulatorSuite) -> AsyncIterator[Billed]:
    seeded = await seed(session_factory)  # a new org: zero balance
    async with running_server(
        session_factory,
        twilio_api_base_url=suite.base_urls["twilio"],
        runtime_class=BillingRuntime,
    ) as (base, runtime):
        runtime.billing = Metering(session_factory, BillingPolicy.from_settings(runtime.settings))
        runtime.stages = default_stages(suite)
        yield Billed(Env(base, runtime, suite, session_factory), seeded.org_id)


async def answered_stream(billed: Billed, call_sid: str) -> tuple[str, dict[str, str]]:
    status, twiml = await voice_webhook(billed.env.base, call_sid)
    stream = stream_of(twiml)
    assert status == 200 and stream is not None
    return stream


async def stream_until_closed(billed: Billed) -> Line:
    """A call answered with a media stream, whose stream the server then closes."""
    call_sid = new_call_sid()
    stream = await answered_stream(billed, call_sid)
    async with open_stream(stream, call_sid) as line:
        await line.closed.wait()
    return line


async def test_an_org_without_credit_is_refused_politely_at_the_webhook(billed: Billed) -> None:
    status, twiml = await voice_webhook(billed.env.base, new_call_sid())

    assert status == 200
    root = ET.fromstring(twiml)
    assert root.find("./Connect") is None  # no media stream, no provider touched
    say = root.find("./Say")
    assert say is not None and "try again later" in (say.text or "")
    assert root.find("./Hangup") is not None
    assert "credit" not in twiml.lower()  # the caller is not told the tenant's billing state
    stored = await stored_call(billed.env)
    assert stored.status == "ended" and stored.end_reason == "insufficient_credit"
    assert not billed.env.suite.requests("deepgram")


async def test_an_org_with_credit_is_answered_with_a_media_stream(billed: Billed) -> None:
    await topup(
        billed.env.factory, org_id=billed.org_id, amount_micros=5_000_000, idempotency_key="t1"
    )
    status, twiml = await voice_webhook(billed.env.base, new_call_sid())
    assert status == 200 and stream_of(twiml) is not None
    assert (await stored_call(billed.env)).status == "ringing"


async def test_credit_gone_between_webhook_and_stream_ends_the_call_with_that_reason(
    billed: Billed,
) -> None:
    factory = billed.env.factory
    await topup(factory, org_id=billed.org_id, amount_micros=200_000, idempotency_key="t2")
    call_sid = new_call_sid()
    stream = await answered_stream(billed, call_sid)
    # Another call (or an API debit) spends the credit before Twilio opens the stream.
    available = (await balance(factory, org_id=billed.org_id)).available_micros
    await debit(factory, org_id=billed.org_id, amount_micros=available, idempotency_key="d1")

    async with open_stream(stream, call_sid) as line:
        await line.closed.wait()

    assert line.ws.close_code == 1008
    stored = await ended_call(billed.env)
    assert stored.status == "ended" and stored.end_reason == "insufficient_credit"
    assert not line.audio and not billed.env.suite.requests("deepgram")
    assert (await balance(factory, org_id=billed.org_id)).reserved_micros == 0


async def test_a_call_ended_during_its_set_up_takes_no_hold(billed: Billed) -> None:
    """The hold commits with the connect or not at all: when Twilio's status callback ends
    the call while its stream is being set up, no credit stays reserved."""
    factory = billed.env.factory
    await topup(factory, org_id=billed.org_id, amount_micros=1_000_000, idempotency_key="t3")
    runtime = billed.env.runtime
    stages = list(runtime.stages)

    async def ended_meanwhile(session: AsyncSession, call: Call) -> list[ResolvedStage]:
        async with factory() as other, other.begin():
            await other.execute(
                update(Call).values(status="ended", end_reason="telephony_completed")
            )
        return stages

    runtime.resolve_stages = ended_meanwhile  # type: ignore[method-assign]
    line = await stream_until_closed(billed)

    assert line.ws.close_code == 1008 and not line.audio
    assert (await balance(factory, org_id=billed.org_id)).reserved_micros == 0
    async with factory() as session:
        assert (await session.scalar(select(func.count()).select_from(Reservation))) == 0
    assert runtime.billing.held_calls == frozenset()  # nothing for the renewal ticker


async def test_a_call_whose_pipeline_cannot_be_built_gives_its_hold_back(billed: Billed) -> None:
    factory = billed.env.factory
    await topup(factory, org_id=billed.org_id, amount_micros=1_000_000, idempotency_key="t4")
    runtime = billed.env.runtime
    stt, llm, _ = default_stages(billed.env.suite)
    runtime.stages = [stt, llm, stage("tts", "twilio", "no-tts-adapter-0001", None)]
    line = await stream_until_closed(billed)
    await asyncio.wait_for(runtime.ended.wait(), 10)

    stored = await ended_call(billed.env)
    assert stored.end_reason == "setup_failed" and not line.audio
    after = await balance(factory, org_id=billed.org_id)
    assert (after.reserved_micros, after.balance_micros) == (0, 1_000_000)  # nothing charged
    async with factory() as session:
        hold = await session.scalar(select(Reservation))
    assert hold is not None and hold.status == "settled"
    assert runtime.billing.held_calls == frozenset()
