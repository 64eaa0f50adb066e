"""Metering: the background recorder, summaries, CSV export and a call's cost breakdown."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.billing import (
    BillingPolicy,
    UsageEvent,
    UsageRecorder,
    call_cost_breakdown,
    record_usage,
    reserve,
    settle,
    topup,
    usage_csv,
    usage_summary,
)
from voxroute.db.base import new_id
from voxroute.db.models import Assistant, UsageRecord
from voxroute.errors import NotFound

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
Factory = async_sessionmaker[AsyncSession]
MakeOrg = Callable[[], Awaitable[str]]
MakeCall = Callable[..., Awaitable[str]]


def event(org: str, call: str, seq: int, **kw: Any) -> UsageEvent:
    fields: dict[str, Any] = {
        "stage": "llm",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "key_source": "managed",
        "unit": "llm_output_tokens",
        "quantity": 1_000,
        "occurred_at": T0,
    } | kw
    return UsageEvent(org_id=org, call_id=call, seq=seq, **fields)


async def stored(factory: Factory, call: str) -> int:
    async with factory() as session:
        count = await session.scalar(
            select(func.count()).select_from(UsageRecord).where(UsageRecord.call_id == call)
        )
    return int(count or 0)


async def make_assistant(factory: Factory, org: str) -> str:
    assistant_id = new_id("asst")
    async with factory() as session, session.begin():
        session.add(Assistant(id=assistant_id, org_id=org, name="support"))
    return assistant_id


async def test_the_recorder_writes_batches_in_the_background_and_drains_on_stop(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org = await make_org()
    call = await make_call(org)
    recorder = UsageRecorder(session_factory, policy.pricing, max_queue=1_000, batch_size=50)
    await recorder.start()
    for seq in range(300):
        assert recorder.try_record(event(org, call, seq))
    await recorder.record(event(org, call, 0))  # a replay: stored once

    assert await recorder.stop() == []
    assert not recorder.running
    assert await stored(session_factory, call) == 300
    assert (recorder.stats.written, recorder.stats.duplicates) == (300, 1)
    with pytest.raises(RuntimeError):
        recorder.try_record(event(org, call, 301))


async def test_events_arriving_while_a_batch_lingers_share_its_write(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org = await make_org()
    call = await make_call(org)
    recorders = {
        linger: UsageRecorder(session_factory, policy.pricing, linger_s=linger)
        for linger in (0.0, 30.0)
    }
    for linger, recorder in recorders.items():
        await recorder.start()
        recorder.try_record(event(org, call, 0 if linger else 100))
        await asyncio.sleep(0.05)  # the writer has taken the first event
        for seq in range(1, 20):
            recorder.try_record(event(org, call, seq + (0 if linger else 100)))
        assert await recorder.stop() == []  # stop() ends the linger at once
        assert recorder.stats.written == 20
    assert recorders[0.0].stats.batches >= 2  # the first event was written alone
    assert recorders[30.0].stats.batches == 1
    assert await stored(session_factory, call) == 40


async def test_a_full_queue_refuses_and_counts_instead_of_dropping_silently(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org = await make_org()
    call = await make_call(org)
    recorder = UsageRecorder(session_factory, policy.pricing, max_queue=2)
    await recorder.start()
    # The writer task has not run yet (no await since start), so the queue fills up.
    accepted = [recorder.try_record(event(org, call, seq)) for seq in range(5)]
    assert accepted == [True, True, False, False, False]
    assert recorder.stats.overflowed == 3
    await recorder.record(event(org, call, 2))  # back-pressure: waits for room, then queues
    assert recorder.stats.waited == 1
    await recorder.stop()
    assert await stored(session_factory, call) == 3


async def test_events_the_database_refuses_are_handed_back_on_stop(
    session_factory: Factory, make_org: MakeOrg, policy: BillingPolicy
) -> None:
    org = await make_org()
    orphan = event(org, "call_that_does_not_exist", 0)
    recorder = UsageRecorder(session_factory, policy.pricing, write_attempts=2, retry_delay_s=0.01)
    await recorder.start()
    recorder.try_record(orphan)
    assert await recorder.stop() == [orphan]
    assert (recorder.stats.failed_writes, recorder.stats.unwritten) == (2, 1)


async def test_unpriced_usage_is_stored_at_zero_cost_and_counted(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org = await make_org()
    call = await make_call(org)
    result = await record_usage(
        session_factory, policy.pricing, [event(org, call, 0, provider="newco")]
    )
    assert (result.inserted, result.unpriced) == (1, 1)


async def test_usage_summary_groups_by_provider_assistant_key_source_and_day(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, other_org = await make_org(), await make_org()
    assistant = await make_assistant(session_factory, org)
    call, other_call = await make_call(org, assistant), await make_call(other_org)
    events = [
        event(org, call, 0),  # 600 managed
        event(org, call, 1, key_source="organization", occurred_at=T0 + timedelta(days=1)),
        event(
            org,
            call,
            0,
            stage="stt",
            unit="stt_ms",
            provider="deepgram",
            model="nova-3",
            quantity=60_000,
            key_source="assistant",
        ),  # 7_700 BYO
        event(other_org, other_call, 0, quantity=999_999),
    ]
    await record_usage(session_factory, policy.pricing, events)
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=5)
    span: dict[str, Any] = {"org_id": org, "start": start, "end": end}

    by_provider = await usage_summary(session_factory, group_by="provider", **span)
    by_source = await usage_summary(session_factory, group_by="key_source", **span)
    by_assistant = await usage_summary(session_factory, group_by="assistant", **span)
    by_day = await usage_summary(session_factory, group_by="day", **span)

    assert [(r.group, r.unit, r.quantity, r.cost_micros, r.billed_micros) for r in by_provider] == [
        ("deepgram", "stt_ms", 60_000, 7_700, 0),
        ("openai", "llm_output_tokens", 2_000, 1_200, 600),
    ]
    assert [(r.group, r.billed_micros) for r in by_source] == [
        ("assistant", 0),
        ("managed", 600),
        ("organization", 0),
    ]
    assert {r.group for r in by_assistant} == {assistant}
    assert [(r.group, r.unit, r.quantity) for r in by_day] == [
        ("2026-03-02", "llm_output_tokens", 1_000),
        ("2026-03-02", "stt_ms", 60_000),
        ("2026-03-03", "llm_output_tokens", 1_000),
    ]
    narrow = await usage_summary(
        session_factory, org_id=org, start=T0, end=T0 + timedelta(hours=1), group_by="provider"
    )
    assert sum(r.quantity for r in narrow if r.unit == "llm_output_tokens") == 1_000


async def test_usage_csv_exports_exact_micros_and_neutralizes_formulas(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org = await make_org()
    call = await make_call(org)
    await record_usage(
        session_factory,
        policy.pricing,
        [event(org, call, 0, quantity=1_234_567), event(org, call, 1, model="=HYPERLINK(1)")],
    )
    text = await usage_csv(session_factory, org_id=org, start=T0, end=T0 + timedelta(days=1))

    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2
    first, second = sorted(rows, key=lambda row: row["model"] != "gpt-4o-mini")
    assert (first["quantity"], first["cost_micros"], first["billed_usd"]) == (
        "1234567",
        "740741",
        "0.740741",
    )
    assert second["model"] == "'=HYPERLINK(1)"


async def test_call_cost_breakdown_lists_transport_stt_llm_tts_and_platform(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org = await make_org()
    call = await make_call(org)
    await topup(session_factory, org_id=org, amount_micros=1_000_000, idempotency_key="t")
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=100_000, policy=policy, now=T0
    )
    events = [
        event(
            org,
            call,
            0,
            stage="transport",
            unit="transport_ms",
            provider="twilio",
            model="default",
            quantity=61_000,
            key_source="organization",
        ),
        event(
            org,
            call,
            0,
            stage="stt",
            unit="stt_ms",
            provider="deepgram",
            model="nova-3",
            quantity=61_000,
            key_source="organization",
        ),
        event(org, call, 0),
        event(
            org,
            call,
            0,
            stage="tts",
            unit="tts_characters",
            provider="cartesia",
            model="sonic-2",
            quantity=1_000,
            key_source="managed",
        ),
    ]
    await settle(session_factory, org_id=org, call_id=call, policy=policy, usage=events, now=T0)

    breakdown = await call_cost_breakdown(session_factory, org_id=org, call_id=call, policy=policy)

    assert breakdown.transport.units == {"transport_ms": 61_000}
    assert (breakdown.transport.cost_micros, breakdown.transport.billed_micros) == (12_709, 0)
    assert (breakdown.stt.cost_micros, breakdown.stt.billed_micros) == (7_829, 0)
    assert (breakdown.llm.cost_micros, breakdown.llm.billed_micros) == (600, 600)
    assert (breakdown.tts.cost_micros, breakdown.tts.billed_micros) == (30_000, 30_000)
    assert breakdown.platform.units == {"call_minutes": 2}
    assert breakdown.platform.billed_micros == 20_000
    assert breakdown.total_billed_micros == breakdown.charged_micros == 50_600

    other = await make_org()
    with pytest.raises(NotFound):
        await call_cost_breakdown(session_factory, org_id=other, call_id=call, policy=policy)
