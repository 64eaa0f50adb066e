"""The sweeper closes the calls of dead workers: their started minutes are charged, the call
is marked `server_lost`, and one bad row never stops the sweep for everybody else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.billing.conftest import FEE_PER_MINUTE, MakeCall, MakeOrg
from tests.billing.test_reservations import charges
from voxroute.billing import BillingPolicy, balance, extend_many, reserve, settle, sweep, topup
from voxroute.billing.ledger import operator_key
from voxroute.db.models import Call, Reservation

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
Factory = async_sessionmaker[AsyncSession]


async def connected_call(
    factory: Factory, make_org: MakeOrg, make_call: MakeCall
) -> tuple[str, str]:
    """A funded org with a call that connected at T0 and holds credit, as a live call does."""
    org = await make_org()
    await topup(factory, org_id=org, amount_micros=1_000_000, idempotency_key="seed")
    call = await make_call(org)
    async with factory() as session, session.begin():
        await session.execute(
            update(Call).where(Call.id == call).values(status="connected", connected_at=T0)
        )
    return org, call


async def stored(factory: Factory, call: str) -> Call:
    async with factory() as session:
        return (await session.execute(select(Call).where(Call.id == call))).scalar_one()


async def test_a_killed_call_pays_the_minutes_its_worker_saw_it_alive_and_ends_server_lost(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await connected_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=100_000, policy=policy, now=T0
    )
    # The worker renews the hold while the call runs, then dies (kill -9): no usage recorded.
    for seconds in (30, 60, 90, 130):
        await extend_many(
            session_factory,
            [call],
            amount_micros=0,
            policy=policy,
            now=T0 + timedelta(seconds=seconds),
        )
    last_seen = T0 + timedelta(seconds=130)

    report = await sweep(session_factory, policy=policy, now=last_seen + timedelta(hours=1))

    assert (report.settled, report.released, report.failed) == (1, 0, 0)
    assert await charges(session_factory, org) == [-3 * FEE_PER_MINUTE]  # 2 min 10 s: 3 started
    ended = await stored(session_factory, call)
    assert (ended.status, ended.end_reason) == ("ended", "server_lost")
    assert ended.ended_at == last_seen


async def test_a_call_killed_before_its_first_renewal_still_pays_its_first_minute(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await connected_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=100_000, policy=policy, now=T0
    )

    report = await sweep(session_factory, policy=policy, now=T0 + timedelta(hours=1))

    assert report.settled == 1
    assert await charges(session_factory, org) == [-FEE_PER_MINUTE]
    assert (await stored(session_factory, call)).end_reason == "server_lost"


async def test_an_operator_key_shaped_like_a_settlement_key_cannot_block_the_settlement(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    org, call = await connected_call(session_factory, make_org, make_call)
    await reserve(
        session_factory, org_id=org, call_id=call, amount_micros=100_000, policy=policy, now=T0
    )
    # What `Idempotency-Key: call:<live call id>` on POST /billing/credits turns into.
    await topup(
        session_factory, org_id=org, amount_micros=5, idempotency_key=operator_key(f"call:{call}")
    )

    settled = await settle(session_factory, org_id=org, call_id=call, policy=policy, now=T0)

    assert settled.status == "settled"
    assert (await balance(session_factory, org_id=org)).reserved_micros == 0


async def test_one_hold_that_cannot_be_closed_does_not_stop_the_sweep(
    session_factory: Factory, make_org: MakeOrg, make_call: MakeCall, policy: BillingPolicy
) -> None:
    orgs_calls = [await connected_call(session_factory, make_org, make_call) for _ in range(3)]
    for org, call in orgs_calls:
        await reserve(
            session_factory, org_id=org, call_id=call, amount_micros=100_000, policy=policy, now=T0
        )
    # The first due hold's settlement key is already taken by another entry: closing it fails
    # on the unique constraint every time (as a colliding top-up key once made it).
    jammed_org, jammed_call = orgs_calls[0]
    async with session_factory() as session, session.begin():
        await session.execute(
            update(Reservation)
            .where(Reservation.call_id == jammed_call)
            .values(expires_at=T0 - timedelta(minutes=5))
        )
    await topup(
        session_factory, org_id=jammed_org, amount_micros=5, idempotency_key=f"call:{jammed_call}"
    )

    report = await sweep(session_factory, policy=policy, now=T0 + timedelta(hours=1))

    assert (report.settled, report.failed) == (2, 1)
    for org, call in orgs_calls[1:]:
        assert await charges(session_factory, org) == [-FEE_PER_MINUTE]
        assert (await stored(session_factory, call)).end_reason == "server_lost"
