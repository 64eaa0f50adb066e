"""The credits ledger: idempotency, the overspend race and pagination (bar cases 17-19)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.billing import balance, debit, entries, open_account, topup
from voxroute.db.models import LedgerEntry
from voxroute.errors import IdempotencyConflict, InsufficientCredit, InvalidInput

Factory = async_sessionmaker[AsyncSession]
MakeOrg = Callable[[], Awaitable[str]]


async def _entry_count(factory: Factory, org_id: str) -> int:
    async with factory() as session:
        count = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.org_id == org_id)
        )
    return int(count or 0)


async def test_topup_and_debit_move_the_balance_and_append_entries(
    session_factory: Factory, make_org: MakeOrg
) -> None:
    org = await make_org()
    credit = await topup(session_factory, org_id=org, amount_micros=5_000_000, idempotency_key="t1")
    charge = await debit(session_factory, org_id=org, amount_micros=1_250_000, idempotency_key="d1")

    assert (credit.amount_micros, credit.balance_after_micros, credit.seq) == (
        5_000_000,
        5_000_000,
        1,
    )
    assert (charge.amount_micros, charge.balance_after_micros, charge.seq) == (
        -1_250_000,
        3_750_000,
        2,
    )
    now = await balance(session_factory, org_id=org)
    assert (now.balance_micros, now.reserved_micros, now.available_micros, now.unit) == (
        3_750_000,
        0,
        3_750_000,
        "usd_micros",
    )


async def test_replaying_a_request_with_the_same_key_returns_the_original_entry(
    session_factory: Factory, make_org: MakeOrg
) -> None:
    org = await make_org()
    first = await topup(session_factory, org_id=org, amount_micros=700, idempotency_key="k")
    again = await topup(session_factory, org_id=org, amount_micros=700, idempotency_key="k")
    spent = await debit(session_factory, org_id=org, amount_micros=300, idempotency_key="d")
    spent_again = await debit(session_factory, org_id=org, amount_micros=300, idempotency_key="d")

    assert again == first and again.replayed and not first.replayed
    assert spent_again == spent and spent_again.balance_after_micros == 400
    assert (await balance(session_factory, org_id=org)).balance_micros == 400
    assert await _entry_count(session_factory, org) == 2


@pytest.mark.parametrize(
    "change",
    [{"amount_micros": 701}, {"description": "other"}, {"kind": "adjustment"}],
)
async def test_the_same_key_with_different_parameters_is_an_idempotency_conflict(
    session_factory: Factory, make_org: MakeOrg, change: dict[str, object]
) -> None:
    org = await make_org()
    request: dict[str, object] = {"amount_micros": 700, "description": "", "kind": "topup"}
    await topup(session_factory, org_id=org, idempotency_key="k", **request)  # type: ignore[arg-type]
    with pytest.raises(IdempotencyConflict):
        await topup(session_factory, org_id=org, idempotency_key="k", **{**request, **change})  # type: ignore[arg-type]
    with pytest.raises(IdempotencyConflict):
        await debit(session_factory, org_id=org, amount_micros=700, idempotency_key="k")
    assert (await balance(session_factory, org_id=org)).balance_micros == 700


async def test_the_same_key_in_two_orgs_names_two_independent_requests(
    session_factory: Factory, make_org: MakeOrg
) -> None:
    org_a, org_b = await make_org(), await make_org()
    await topup(session_factory, org_id=org_a, amount_micros=10, idempotency_key="shared")
    await topup(session_factory, org_id=org_b, amount_micros=20, idempotency_key="shared")
    assert (await balance(session_factory, org_id=org_a)).balance_micros == 10
    assert (await balance(session_factory, org_id=org_b)).balance_micros == 20


async def test_concurrent_requests_with_one_key_apply_exactly_once(
    session_factory: Factory, make_org: MakeOrg
) -> None:
    org = await make_org()
    results = await asyncio.gather(
        *(
            topup(session_factory, org_id=org, amount_micros=1_000, idempotency_key="same")
            for _ in range(20)
        )
    )
    debits = await asyncio.gather(
        *(
            debit(session_factory, org_id=org, amount_micros=400, idempotency_key="once")
            for _ in range(20)
        )
    )

    assert len({r.id for r in results}) == 1 and sum(not r.replayed for r in results) == 1
    assert len({d.id for d in debits}) == 1 and sum(not d.replayed for d in debits) == 1
    assert (await balance(session_factory, org_id=org)).balance_micros == 600
    assert await _entry_count(session_factory, org) == 2


async def test_fifty_concurrent_debits_of_one_against_balance_k_succeed_exactly_k_times(
    session_factory: Factory, make_org: MakeOrg
) -> None:
    org, k = await make_org(), 17
    await topup(session_factory, org_id=org, amount_micros=k, idempotency_key="seed")

    outcomes = await asyncio.gather(
        *(
            debit(session_factory, org_id=org, amount_micros=1, idempotency_key=f"d{i}")
            for i in range(50)
        ),
        return_exceptions=True,
    )

    assert sum(not isinstance(o, BaseException) for o in outcomes) == k
    assert all(isinstance(o, InsufficientCredit) for o in outcomes if isinstance(o, BaseException))
    assert (await balance(session_factory, org_id=org)).balance_micros == 0
    assert await _entry_count(session_factory, org) == k + 1


async def test_a_debit_beyond_available_credit_is_refused_with_the_amounts_and_writes_nothing(
    session_factory: Factory, make_org: MakeOrg
) -> None:
    org = await make_org()
    await topup(session_factory, org_id=org, amount_micros=1_000_000, idempotency_key="t")
    with pytest.raises(InsufficientCredit, match=r"\$1\.000000 available, \$1\.000001 needed"):
        await debit(session_factory, org_id=org, amount_micros=1_000_001, idempotency_key="d")
    assert await _entry_count(session_factory, org) == 1
    # Nothing was stored under the refused key: after a top-up the same request may succeed.
    await topup(session_factory, org_id=org, amount_micros=1, idempotency_key="t2")
    done = await debit(session_factory, org_id=org, amount_micros=1_000_001, idempotency_key="d")
    assert done.balance_after_micros == 0


async def test_a_debit_from_an_org_without_an_account_is_refused(
    session_factory: Factory, make_org: MakeOrg
) -> None:
    org = await make_org()
    with pytest.raises(InsufficientCredit):
        await debit(session_factory, org_id=org, amount_micros=1, idempotency_key="d")
    assert (await balance(session_factory, org_id=org)).available_micros == 0


async def test_a_credit_line_floor_lets_the_balance_go_negative_down_to_the_floor(
    session_factory: Factory, make_org: MakeOrg
) -> None:
    org = await make_org()
    await open_account(session_factory, org_id=org, floor_micros=-500)
    await debit(session_factory, org_id=org, amount_micros=500, idempotency_key="a")
    with pytest.raises(InsufficientCredit):
        await debit(session_factory, org_id=org, amount_micros=1, idempotency_key="b")
    now = await balance(session_factory, org_id=org)
    assert (now.balance_micros, now.floor_micros, now.available_micros) == (-500, -500, 0)


@pytest.mark.parametrize("amount", [0, -5, True])
async def test_amounts_must_be_positive_integers(
    session_factory: Factory, make_org: MakeOrg, amount: int
) -> None:
    org = await make_org()
    with pytest.raises(InvalidInput):
        await topup(session_factory, org_id=org, amount_micros=amount, idempotency_key="x")


async def test_entries_are_paginated_newest_first(
    session_factory: Factory, make_org: MakeOrg
) -> None:
    org = await make_org()
    for i in range(5):
        await topup(session_factory, org_id=org, amount_micros=i + 1, idempotency_key=f"t{i}")

    first = await entries(session_factory, org_id=org, limit=2)
    second = await entries(session_factory, org_id=org, limit=2, before_seq=first.next_before_seq)
    last = await entries(session_factory, org_id=org, limit=2, before_seq=second.next_before_seq)

    assert [e.amount_micros for e in first.entries] == [5, 4]
    assert [e.amount_micros for e in second.entries] == [3, 2]
    assert [e.amount_micros for e in last.entries] == [1] and last.next_before_seq is None
