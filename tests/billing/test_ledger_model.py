"""Property-based test (bar case 22): the ledger behaves like a tiny in-memory model.

Hypothesis drives random sequences of top-ups, debits (with reused idempotency keys), holds,
extensions and settlements against the real database, and after every step compares balance,
reserved credit and the sum of entries with the model's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import BigInteger, cast, delete, func, select

from voxroute.billing import (
    BillingPolicy,
    UsageEvent,
    balance,
    debit,
    extend,
    load_pricing,
    reserve,
    settle,
    topup,
)
from voxroute.db.base import new_id
from voxroute.db.models import Call, LedgerEntry, Organization
from voxroute.db.session import create_engine, create_session_factory
from voxroute.errors import IdempotencyConflict, InsufficientCredit, ReservationError

T = TypeVar("T")
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FEE, MIN_BALANCE = 1_000, 100
KEYS = st.sampled_from([f"key-{i}" for i in range(4)])
CALLS = st.integers(min_value=0, max_value=2)
AMOUNTS = st.integers(min_value=1, max_value=4_000)


@pytest.fixture(autouse=True)
def ledger_invariants() -> Iterator[None]:
    """This test checks the invariants itself after every step, on its own engine."""
    yield


@dataclass
class Model:
    balance: int = 0
    reserved: int = 0
    requests: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (op, amount)
    holds: dict[int, tuple[str, int]] = field(default_factory=dict)  # call -> (status, amount)
    talked_ms: dict[int, int] = field(default_factory=dict)

    @property
    def available(self) -> int:
        return self.balance - self.reserved


class LedgerMachine(RuleBasedStateMachine):
    url = ""

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.engine = create_engine(self.url)
        self.factory = create_session_factory(self.engine)
        self.policy = BillingPolicy(
            pricing=load_pricing(),
            platform_fee_per_minute_micros=FEE,
            min_call_balance_micros=MIN_BALANCE,
        )
        self.model = Model()
        self.org = new_id("org")
        self.calls = [new_id("call") for _ in range(3)]
        self.seq = 0
        self.run(self._create_org())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    async def _create_org(self) -> None:
        async with self.factory() as session, session.begin():
            session.add(Organization(id=self.org, name="model"))
            await session.flush()
            for call in self.calls:
                session.add(Call(id=call, org_id=self.org, provider_call_id=new_id("CA")))

    def _expect_keyed(self, op: str, key: str, amount: int) -> str:
        known = self.model.requests.get(key)
        if known is None:
            return "new"
        return "replay" if known == (op, amount) else "conflict"

    @rule(key=KEYS, amount=AMOUNTS)
    def top_up(self, key: str, amount: int) -> None:
        expected = self._expect_keyed("topup", key, amount)
        if expected == "conflict":
            with pytest.raises(IdempotencyConflict):
                self.run(
                    topup(self.factory, org_id=self.org, amount_micros=amount, idempotency_key=key)
                )
            return
        entry = self.run(
            topup(self.factory, org_id=self.org, amount_micros=amount, idempotency_key=key)
        )
        assert entry.replayed == (expected == "replay")
        if expected == "new":
            self.model.balance += amount
            self.model.requests[key] = ("topup", amount)

    @rule(key=KEYS, amount=AMOUNTS)
    def spend(self, key: str, amount: int) -> None:
        expected = self._expect_keyed("debit", key, amount)
        request = debit(self.factory, org_id=self.org, amount_micros=amount, idempotency_key=key)
        if expected == "conflict":
            with pytest.raises(IdempotencyConflict):
                self.run(request)
        elif expected == "new" and amount > self.model.available:
            with pytest.raises(InsufficientCredit):
                self.run(request)
        else:
            entry = self.run(request)
            assert entry.replayed == (expected == "replay")
            if expected == "new":
                self.model.balance -= amount
                self.model.requests[key] = ("debit", amount)

    @rule(call=CALLS, amount=AMOUNTS)
    def hold(self, call: int, amount: int) -> None:
        request = reserve(
            self.factory,
            org_id=self.org,
            call_id=self.calls[call],
            amount_micros=amount,
            policy=self.policy,
            now=T0,
        )
        existing = self.model.holds.get(call)
        if existing is not None:
            if existing == ("held", amount):
                self.run(request)
            else:
                with pytest.raises(ReservationError):
                    self.run(request)
        elif self.model.available < max(amount, MIN_BALANCE):
            with pytest.raises(InsufficientCredit):
                self.run(request)
        else:
            self.run(request)
            self.model.holds[call] = ("held", amount)
            self.model.reserved += amount

    @rule(call=CALLS, amount=st.integers(min_value=0, max_value=3_000))
    def grow(self, call: int, amount: int) -> None:
        request = extend(
            self.factory,
            org_id=self.org,
            call_id=self.calls[call],
            amount_micros=amount,
            policy=self.policy,
            now=T0,
        )
        existing = self.model.holds.get(call)
        if existing is None or existing[0] != "held":
            with pytest.raises(ReservationError):
                self.run(request)
            return
        ok = self.run(request)
        assert ok == (amount <= self.model.available)
        if ok:
            self.model.holds[call] = ("held", existing[1] + amount)
            self.model.reserved += amount

    @rule(call=CALLS, seconds=st.integers(min_value=0, max_value=240))
    def hang_up(self, call: int, seconds: int) -> None:
        self.seq += 1
        talk = UsageEvent(
            org_id=self.org,
            call_id=self.calls[call],
            stage="transport",
            provider="twilio",
            model="default",
            key_source="organization",
            unit="transport_ms",
            quantity=seconds * 1_000,
            seq=self.seq,
            occurred_at=T0,
        )
        request = settle(
            self.factory,
            org_id=self.org,
            call_id=self.calls[call],
            policy=self.policy,
            usage=[talk],
            now=T0,
        )
        # The usage is stored even when settling is refused.
        talked = self.model.talked_ms[call] = self.model.talked_ms.get(call, 0) + seconds * 1_000
        charge = -(-talked // 60_000) * FEE
        existing = self.model.holds.get(call)
        if existing is None or existing[0] != "held" or charge > existing[1]:
            with pytest.raises(ReservationError):
                self.run(request)
            return
        assert self.run(request).charged_micros == charge
        self.model.holds[call] = ("settled", existing[1])
        self.model.reserved -= existing[1]
        self.model.balance -= charge

    @invariant()
    def database_matches_the_model(self) -> None:
        now = self.run(balance(self.factory, org_id=self.org))
        assert (now.balance_micros, now.reserved_micros) == (
            self.model.balance,
            self.model.reserved,
        )
        assert now.available_micros >= 0
        assert self.run(self._sum_of_entries()) == self.model.balance

    async def _sum_of_entries(self) -> int:
        async with self.factory() as session:
            total = await session.scalar(
                select(
                    cast(func.coalesce(func.sum(LedgerEntry.amount_micros), 0), BigInteger)
                ).where(LedgerEntry.org_id == self.org)
            )
        return int(total or 0)

    def teardown(self) -> None:
        async def cleanup() -> None:
            async with self.factory() as session, session.begin():
                await session.execute(delete(Organization).where(Organization.id == self.org))
            await self.engine.dispose()

        try:
            self.run(cleanup())
        finally:
            self.runner.close()


def test_the_ledger_behaves_like_its_in_memory_model(db_url: str) -> None:
    machine = type("BoundLedgerMachine", (LedgerMachine,), {"url": db_url})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=timedelta(seconds=5),
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
