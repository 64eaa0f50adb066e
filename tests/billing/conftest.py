"""Billing fixtures: orgs and calls to bill, a policy, and the ledger invariants after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.billing import BillingPolicy, load_pricing
from voxroute.db.base import new_id
from voxroute.db.models import (
    Call,
    CreditAccount,
    LedgerEntry,
    Organization,
    Reservation,
)

FEE_PER_MINUTE = 10_000
MIN_CALL_BALANCE = 50_000

MakeOrg = Callable[[], Awaitable[str]]
MakeCall = Callable[..., Awaitable[str]]


@pytest.fixture
def policy() -> BillingPolicy:
    return BillingPolicy(
        pricing=load_pricing(),
        platform_fee_per_minute_micros=FEE_PER_MINUTE,
        min_call_balance_micros=MIN_CALL_BALANCE,
        hold_ttl=timedelta(minutes=2),
    )


@pytest.fixture
def make_org(session_factory: async_sessionmaker[AsyncSession]) -> MakeOrg:
    async def make() -> str:
        org_id = new_id("org")
        async with session_factory() as session, session.begin():
            session.add(Organization(id=org_id, name=f"org {org_id}"))
        return org_id

    return make


@pytest.fixture
def make_call(session_factory: async_sessionmaker[AsyncSession]) -> MakeCall:
    async def make(org_id: str, assistant_id: str | None = None) -> str:
        call_id = new_id("call")
        async with session_factory() as session, session.begin():
            session.add(
                Call(
                    id=call_id,
                    org_id=org_id,
                    assistant_id=assistant_id,
                    provider_call_id=new_id("CA"),
                )
            )
        return call_id

    return make


async def assert_ledger_invariants(factory: async_sessionmaker[AsyncSession]) -> None:
    """Case 17: balance == sum(entries), nothing below its floor, holds match the reserved."""
    async with factory() as session:
        accounts = {a.org_id: a for a in (await session.scalars(select(CreditAccount))).all()}
        sums = dict(
            (
                await session.execute(
                    select(
                        LedgerEntry.org_id,
                        cast(func.sum(LedgerEntry.amount_micros), BigInteger),
                    ).group_by(LedgerEntry.org_id)
                )
            ).all()
        )
        counts = dict(
            (
                await session.execute(
                    select(LedgerEntry.org_id, func.count()).group_by(LedgerEntry.org_id)
                )
            ).all()
        )
        held = dict(
            (
                await session.execute(
                    select(
                        Reservation.org_id,
                        cast(func.sum(Reservation.amount_micros), BigInteger),
                    )
                    .where(Reservation.status == "held")
                    .group_by(Reservation.org_id)
                )
            ).all()
        )
    assert set(sums) <= set(accounts), "ledger entries without a credit account"
    for org_id, account in accounts.items():
        assert account.balance_micros == sums.get(org_id, 0), org_id
        assert account.last_seq == counts.get(org_id, 0), org_id
        assert account.reserved_micros == held.get(org_id, 0), org_id
        assert account.balance_micros >= account.floor_micros, org_id
        assert account.balance_micros - account.reserved_micros >= account.floor_micros, org_id


@pytest.fixture(autouse=True)
async def ledger_invariants(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[None]:
    """Runs after every billing test that touches the database (pure tests override it)."""
    yield
    await assert_ledger_invariants(session_factory)
