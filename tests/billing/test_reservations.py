"""Call holds: reserve, extend, settle exactly once, sweep dead calls (bar cases 20, 21, 23, 28)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from voxroute.billing import (
    BillingPolicy,
    UsageEvent,
    balance,
    extend,
    extend_many,
    record_usage,
    reserve,
    settle,
    sweep,
    topup,
)
from voxroute.db.models import LedgerEntry, Reservation
from voxroute.errors import InsufficientCredit, ReservationError

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
Factory = async_sessionmaker[AsyncSession]
MakeOrg = Callable[[], Awaitable[str]]
MakeCall = Callable[..., Awaitable[str]]


def usage(org: str, call: str, stage: Any, unit: Any, quantity: int, **kw: Any) -> UsageEvent:
    fields: dict[str, Any] = {
        "provider": "twilio",
        "model": "default",
        "key_source": "organization",
        "seq": 0,
        "occurred_at": T0,
    } | kw
    return UsageEvent(org_id=org, call_id=call, stage=stage, unit=unit, quantity=quantity, **fields)


def talk(org: str, call: str, ms: int, seq: int = 0) -> UsageEvent:
    """Connected time on the org's own telephony account (BYO transport: fee only)."""
    return usage(org, call, "transport", "transport_ms", ms, seq=seq)


async def funded_call(
    factory: Factory, make_org: MakeOrg, make_call: MakeCall, credit: int = 1_000_000
) -> tuple[str, str]:
    org = await make_org()
    await topup(factory, org_id=org, amount_micros=credit, idempotency_key="seed")
    return org, await make_call(org)


async def charges(factory: Factory, org: str) -> list[int]:
    async with factory() as session:
        rows = await session.scalars(
            select(LedgerEntry.amount_micros).where(
                LedgerEntry.org_id == org, LedgerEntry.kind == "call_charge"
            )
        )
        return list(rows.all())


async def test_mixed_keys_charge_the_platform_fee_and_managed_llm_cost_only(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=100_000, policy=policy, now=T0
    )
    llm = {"provider": "openai", "model": "gpt-4o-mini", "key_source": "managed"}
    events = [
        talk(org, call, 90_000),  # 1.5 min on the org's Twilio: 2 started minutes
        usage(
            org,
            call,
            "stt",
            "stt_ms",
            80_000,
            provider="deepgram",
            model="nova-3",
            key_source="assistant",
        ),
        usage(org, call, "llm", "llm_input_tokens", 12_000, **llm),
        usage(org, call, "llm", "llm_output_tokens", 800, **llm),
        usage(org, call, "llm", "llm_cached_tokens", 2_000, **llm),
        usage(
            org,
            call,
            "tts",
            "tts_characters",
            1_500,
            provider="elevenlabs",
            model="eleven_flash_v2_5",
            key_source="organization",
        ),
    ]

    done = await settle(
        session_factory,
        org_id=org,
        call_id=call,
        policy=policy,
        usage=events,
        now=T0 + timedelta(seconds=95),
    )

    # pricing.toml, gpt-4o-mini: 150_000 / 600_000 / 75_000 micros per 1M tokens.
    llm_cost = 12_000 * 150_000 // 10**6 + 800 * 600_000 // 10**6 + 2_000 * 75_000 // 10**6
    assert llm_cost == 1_800 + 480 + 150
    assert (done.call_minutes, done.platform_fee_micros) == (2, 20_000)
    assert (done.provider_micros, done.charged_micros) == (llm_cost, 20_000 + llm_cost)
    now = await balance(session_factory, org_id=org)
    assert (now.balance_micros, now.reserved_micros) == (1_000_000 - 22_430, 0)
    assert await charges(session_factory, org) == [-22_430]


async def test_a_fully_byok_call_still_pays_the_platform_fee_per_started_minute(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=60_000, policy=policy, now=T0
    )
    byo = usage(
        org,
        call,
        "llm",
        "llm_output_tokens",
        10_000,
        provider="openai",
        model="gpt-4o",
        key_source="organization",
    )
    done = await settle(
        session_factory,
        org_id=org,
        call_id=call,
        policy=policy,
        usage=[talk(org, call, 120_001), byo],
        now=T0,
    )
    assert (done.call_minutes, done.charged_micros, done.provider_micros) == (3, 30_000, 0)


async def test_reserve_is_refused_with_a_clear_reason_when_credit_is_too_low(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call, credit=40_000)
    with pytest.raises(InsufficientCredit, match=r"\$0\.040000 available, \$0\.050000 required"):
        await reserve(
            session_factory, org_id=org, call_id=call, amount_micros=10_000, policy=policy
        )
    with pytest.raises(InsufficientCredit, match=r"\$0\.060000 required"):
        await reserve(
            session_factory, org_id=org, call_id=call, amount_micros=60_000, policy=policy
        )
    assert (await balance(session_factory, org_id=org)).reserved_micros == 0


async def test_holds_reduce_available_credit_for_the_next_call(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, first = await funded_call(session_factory, make_org, make_call, credit=120_000)
    second = await make_call(org)
    await reserve(session_factory, org_id=org, call_id=first, amount_micros=60_000, policy=policy)
    with pytest.raises(InsufficientCredit):
        await reserve(
            session_factory, org_id=org, call_id=second, amount_micros=70_000, policy=policy
        )
    now = await balance(session_factory, org_id=org)
    assert (now.reserved_micros, now.available_micros) == (60_000, 60_000)


async def test_reserving_again_for_the_same_call_returns_the_same_hold(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call)
    holds = await asyncio.gather(
        *(
            reserve(session_factory, org_id=org, call_id=call, amount_micros=50_000, policy=policy)
            for _ in range(5)
        )
    )
    assert len({h.id for h in holds}) == 1
    assert (await balance(session_factory, org_id=org)).reserved_micros == 50_000
    with pytest.raises(ReservationError):
        await reserve(
            session_factory, org_id=org, call_id=call, amount_micros=70_000, policy=policy
        )


async def test_settling_more_than_reserved_is_rejected_until_the_call_extends(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=50_000, policy=policy, now=T0
    )
    ten_minutes = talk(org, call, 600_000)  # 100_000 of platform fee

    with pytest.raises(ReservationError, match="extend the reservation"):
        await settle(
            session_factory,
            org_id=org,
            call_id=call,
            policy=policy,
            usage=[ten_minutes],
            now=T0 + timedelta(seconds=60),
        )
    assert await charges(session_factory, org) == []

    assert await extend(
        session_factory,
        org_id=org,
        call_id=call,
        amount_micros=50_000,
        policy=policy,
        now=T0 + timedelta(seconds=61),
    )
    done = await settle(
        session_factory, org_id=org, call_id=call, policy=policy, now=T0 + timedelta(seconds=62)
    )
    assert done.charged_micros == 100_000
    assert (await balance(session_factory, org_id=org)).balance_micros == 900_000


async def test_settling_twice_is_rejected_and_charges_once(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=50_000, policy=policy, now=T0
    )
    await settle(
        session_factory,
        org_id=org,
        call_id=call,
        policy=policy,
        usage=[talk(org, call, 30_000)],
        now=T0,
    )
    with pytest.raises(ReservationError, match="already settled"):
        await settle(session_factory, org_id=org, call_id=call, policy=policy, now=T0)
    assert await charges(session_factory, org) == [-10_000]


async def test_settling_after_expiry_is_rejected_and_the_sweeper_charges_the_call(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=50_000, policy=policy, now=T0
    )
    late = T0 + policy.hold_ttl + timedelta(seconds=1)

    with pytest.raises(ReservationError, match="expired"):
        await settle(
            session_factory,
            org_id=org,
            call_id=call,
            policy=policy,
            usage=[talk(org, call, 70_000)],
            now=late,
        )
    # The usage handed to the refused settle was kept; the sweeper charges it.
    report = await sweep(session_factory, policy=policy, now=late)
    assert (report.settled, report.charged_micros) == (1, 20_000)
    assert await charges(session_factory, org) == [-20_000]


async def test_concurrent_settles_of_one_call_apply_once(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    """Duplicate or out-of-order status callbacks all try to settle: exactly one wins."""
    org, call = await funded_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=50_000, policy=policy, now=T0
    )
    await record_usage(session_factory, policy.pricing, [talk(org, call, 45_000)])

    outcomes = await asyncio.gather(
        *(
            settle(session_factory, org_id=org, call_id=call, policy=policy, now=T0)
            for _ in range(10)
        ),
        sweep(session_factory, policy=policy, now=T0 + timedelta(hours=1)),
        return_exceptions=True,
    )

    assert all(isinstance(o, ReservationError) for o in outcomes[:10] if isinstance(o, Exception))
    assert await charges(session_factory, org) == [-10_000]
    assert (await balance(session_factory, org_id=org)).balance_micros == 990_000


async def test_extend_returns_false_when_credit_runs_out_and_changes_nothing(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call, credit=80_000)
    held = await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=50_000, policy=policy, now=T0
    )
    later = T0 + timedelta(seconds=60)

    assert await extend(
        session_factory, org_id=org, call_id=call, amount_micros=30_000, policy=policy, now=later
    )
    assert not await extend(
        session_factory, org_id=org, call_id=call, amount_micros=1, policy=policy, now=later
    )
    async with session_factory() as session:
        row = await session.scalar(select(Reservation).where(Reservation.call_id == call))
    assert row is not None
    assert (row.amount_micros, row.expires_at) == (80_000, later + policy.hold_ttl)
    assert held.expires_at == T0 + policy.hold_ttl


async def test_extend_after_settlement_or_expiry_raises(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=50_000, policy=policy, now=T0
    )
    with pytest.raises(ReservationError, match="expired"):
        await extend(
            session_factory,
            org_id=org,
            call_id=call,
            amount_micros=0,
            policy=policy,
            now=T0 + timedelta(hours=1),
        )
    await settle(session_factory, org_id=org, call_id=call, policy=policy, now=T0)
    with pytest.raises(ReservationError, match="already settled"):
        await extend(
            session_factory, org_id=org, call_id=call, amount_micros=0, policy=policy, now=T0
        )


async def test_extend_many_renews_every_hold_in_one_transaction_within_each_orgs_credit(
    engine: AsyncEngine,
    session_factory: Factory,
    make_org: MakeOrg,
    make_call: MakeCall,
    policy: BillingPolicy,
) -> None:
    rich, rich_calls = await make_org(), []
    await topup(session_factory, org_id=rich, amount_micros=1_000_000, idempotency_key="seed")
    # 100k held of 130k: growing both holds by 20k needs 40k, only 30k is there.
    poor, poor_calls = await make_org(), []
    await topup(session_factory, org_id=poor, amount_micros=130_000, idempotency_key="seed")
    for org, calls in ((rich, rich_calls), (poor, poor_calls)):
        for i in range(3 if org == rich else 2):
            call = await make_call(org)
            await reserve(
                session_factory,
                org_id=org,
                call_id=call,
                amount_micros=50_000,
                policy=policy,
                now=T0 + timedelta(seconds=i),  # oldest first when credit is short
            )
            calls.append(call)
    ended = rich_calls.pop()
    await settle(session_factory, org_id=rich, call_id=ended, policy=policy, now=T0)
    commits: list[object] = []
    event.listen(engine.sync_engine, "commit", commits.append)
    later = T0 + timedelta(seconds=30)

    result = await extend_many(
        session_factory,
        [*rich_calls, *poor_calls, ended, "call_unknown"],
        amount_micros=20_000,
        policy=policy,
        now=later,
    )

    assert len(commits) == 1
    assert result.extended == {*rich_calls, poor_calls[0]}
    assert result.short == {poor_calls[1]}
    assert result.closed == {ended, "call_unknown"}
    async with session_factory() as session:
        rows = {r.call_id: r for r in (await session.scalars(select(Reservation))).all()}
    grown = (70_000, later + policy.hold_ttl)
    for call in (*rich_calls, poor_calls[0]):
        assert (rows[call].amount_micros, rows[call].expires_at) == grown
    assert (rows[poor_calls[1]].amount_micros, rows[poor_calls[1]].expires_at) == (
        50_000,
        T0 + timedelta(seconds=1) + policy.hold_ttl,
    )
    assert rows[ended].status == "settled"
    assert (await balance(session_factory, org_id=poor)).reserved_micros == 120_000
    assert (await balance(session_factory, org_id=rich)).reserved_micros == 140_000


async def test_another_orgs_call_cannot_be_settled(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call)
    other = await make_org()
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=50_000, policy=policy, now=T0
    )
    with pytest.raises(ReservationError, match="no reservation"):
        await settle(session_factory, org_id=other, call_id=call, policy=policy, now=T0)
    assert (await balance(session_factory, org_id=org)).reserved_micros == 50_000


async def test_the_sweeper_settles_a_dead_calls_hold_from_recorded_usage_exactly_once(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    """Kill between reserve and settle: after recovery nothing is lost or doubled."""
    org, call = await funded_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=60_000, policy=policy, now=T0
    )
    managed = {"provider": "openai", "model": "gpt-4o-mini", "key_source": "managed_fallback"}
    recorded = [
        talk(org, call, 30_000, seq=0),
        talk(org, call, 30_000, seq=1),
        usage(org, call, "llm", "llm_output_tokens", 10_000, **managed),
    ]
    await record_usage(session_factory, policy.pricing, recorded)
    # ... the worker dies here; a replayed batch from a retry must not double anything.
    await record_usage(session_factory, policy.pricing, recorded)
    late = T0 + policy.hold_ttl

    reports = await asyncio.gather(
        *(sweep(session_factory, policy=policy, now=late) for _ in range(4))
    )
    again = await sweep(session_factory, policy=policy, now=late + timedelta(hours=1))

    assert sum(r.settled for r in reports) == 1 and again.settled == 0
    assert await charges(session_factory, org) == [-(10_000 + 6_000)]
    now = await balance(session_factory, org_id=org)
    assert (now.balance_micros, now.reserved_micros) == (984_000, 0)
    with pytest.raises(ReservationError, match="already expired"):
        await settle(session_factory, org_id=org, call_id=call, policy=policy, now=late)


async def test_the_sweeper_releases_a_stale_hold_without_usage(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=60_000, policy=policy, now=T0
    )
    assert (await sweep(session_factory, policy=policy, now=T0)).released == 0  # not expired yet
    report = await sweep(session_factory, policy=policy, now=T0 + timedelta(hours=1))
    assert (report.released, report.settled) == (1, 0)
    now = await balance(session_factory, org_id=org)
    assert (now.balance_micros, now.reserved_micros) == (1_000_000, 0)
    assert await charges(session_factory, org) == []


async def test_the_sweeper_charges_a_dead_call_at_most_its_available_credit(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call, credit=60_000)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=50_000, policy=policy, now=T0
    )
    await record_usage(session_factory, policy.pricing, [talk(org, call, 600_000)])  # 100_000

    report = await sweep(session_factory, policy=policy, now=T0 + timedelta(hours=1))

    assert (report.charged_micros, report.shortfall_micros) == (60_000, 40_000)
    now = await balance(session_factory, org_id=org)
    assert (now.balance_micros, now.reserved_micros) == (0, 0)
    async with session_factory() as session:
        row = await session.scalar(select(Reservation).where(Reservation.call_id == call))
        count = await session.scalar(select(func.count()).select_from(LedgerEntry))
    assert row is not None and (row.status, row.shortfall_micros) == ("expired", 40_000)
    assert count == 2


async def test_the_sweeper_leaves_a_just_expired_hold_to_its_own_settle_within_the_grace(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await funded_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=50_000, policy=policy, now=T0
    )
    just_expired = T0 + policy.hold_ttl + timedelta(seconds=1)
    grace = timedelta(seconds=30)
    report = await sweep(session_factory, policy=policy, now=just_expired, grace=grace)
    assert (report.settled, report.released) == (0, 0)
    report = await sweep(session_factory, policy=policy, now=just_expired + grace, grace=grace)
    assert report.released == 1
