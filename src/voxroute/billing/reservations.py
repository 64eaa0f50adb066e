"""Credit holds for calls: reserve at start, extend while running, settle exactly once.

The charge of a call is the platform fee per started minute of connected time (always, BYOK or
not) plus the list-price cost of stages served by a platform key (`managed`,
`managed_fallback`). Connected time is the call's recorded `transport_ms` usage, so a
settlement and a sweep of a dead call compute the same charge from the same rows.

Settling more than is held is rejected (`ReservationError`): a running call must extend its
hold first, and when it cannot, end politely while the hold still covers it. Only the sweeper
may charge beyond a hold (up to the org's available credit, never below the floor) because a
dead call can no longer be asked; what it cannot collect is kept as `shortfall_micros`.

Locks are always taken reservation row first, then account row, so settles, extends and
sweeps cannot deadlock each other.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from sqlalchemy import BigInteger, bindparam, case, cast, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.billing.ledger import move_hold, post_entry, read_balance, request_hash
from voxroute.billing.policy import BillingPolicy
from voxroute.billing.types import UsageEvent, format_usd
from voxroute.billing.usage import record_usage
from voxroute.calls.state import CallState, EndReason
from voxroute.db.base import new_id, utcnow
from voxroute.db.models import Call
from voxroute.db.models.billing import Reservation, UsageRecord
from voxroute.db.transactions import is_postgres, run_update, run_write
from voxroute.errors import BillingError, InsufficientCredit, InvalidInput, ReservationError

__all__ = [
    "HoldRenewal",
    "ReservationView",
    "Settlement",
    "SweepReport",
    "expire_holds",
    "extend",
    "extend_many",
    "hold_credit",
    "reserve",
    "settle",
    "sweep",
]

log = logging.getLogger(__name__)
SettleStatus = Literal["settled", "expired"]
# On every call's set-up: built once.
_CALL_RESERVATION = select(Reservation).where(Reservation.call_id == bindparam("call_id"))


@dataclass(frozen=True, slots=True)
class ReservationView:
    """A call's hold as plain values, safe to keep after its session is gone."""

    id: str
    org_id: str
    call_id: str
    amount_micros: int
    status: str
    expires_at: datetime

    @classmethod
    def of(cls, row: Reservation) -> ReservationView:
        return cls(row.id, row.org_id, row.call_id, row.amount_micros, row.status, row.expires_at)


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a call was charged: `platform_fee_micros + provider_micros - shortfall_micros`."""

    call_id: str
    entry_id: str
    connected_ms: int
    call_minutes: int
    platform_fee_micros: int
    provider_micros: int
    charged_micros: int
    shortfall_micros: int
    status: SettleStatus


@dataclass(frozen=True, slots=True)
class SweepReport:
    """Totals of one `sweep`: holds charged from usage (`settled`) or released, and the amounts."""

    settled: int = 0
    released: int = 0
    charged_micros: int = 0
    shortfall_micros: int = 0
    # Holds that could not be closed this time (logged; retried by the next sweep).
    failed: int = 0


def _check_amount(amount_micros: int, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not isinstance(amount_micros, int) or isinstance(amount_micros, bool) or amount_micros < low:
        raise InvalidInput("amount must be a positive integer of micro-USD")


async def _locked(session: AsyncSession, org_id: str, call_id: str) -> Reservation:
    query = select(Reservation).where(Reservation.org_id == org_id, Reservation.call_id == call_id)
    if is_postgres(session):
        query = query.with_for_update()
    row = await session.scalar(query.execution_options(populate_existing=True))
    if row is None:
        raise ReservationError(f"call {call_id} has no reservation")
    return row


def _require_open(row: Reservation, now: datetime) -> None:
    if row.status != "held":
        raise ReservationError(f"the reservation of call {row.call_id} is already {row.status}")
    if now >= row.expires_at:
        raise ReservationError(
            f"the reservation of call {row.call_id} expired at {row.expires_at.isoformat()}; "
            "the sweeper settles it from the usage recorded"
        )


async def reserve(
    factory: async_sessionmaker[AsyncSession],
    *,
    org_id: str,
    call_id: str,
    amount_micros: int,
    policy: BillingPolicy,
    now: datetime | None = None,
) -> ReservationView:
    """Hold credit for a starting call in a write transaction of its own (`hold_credit`)."""
    hold = partial(
        hold_credit,
        org_id=org_id,
        call_id=call_id,
        amount_micros=amount_micros,
        policy=policy,
        now=now,
    )
    return await run_write(factory, hold)


async def hold_credit(
    session: AsyncSession,
    *,
    org_id: str,
    call_id: str,
    amount_micros: int,
    policy: BillingPolicy,
    now: datetime | None = None,
) -> ReservationView:
    """Hold credit for a starting call; `InsufficientCredit` says what is available and needed.

    Runs in the caller's write transaction (`run_write`), so a call's hold can commit with
    the rest of its start. Refused unless available credit covers both the hold and the
    policy's minimum call balance. Holding again for the same call and amount returns the
    existing hold (a retried start).
    """
    _check_amount(amount_micros)
    now = now or utcnow()
    required = max(amount_micros, policy.min_call_balance_micros)
    existing = await session.scalar(_CALL_RESERVATION, {"call_id": call_id})
    if existing is not None:
        same = (existing.org_id, existing.status, existing.amount_micros)
        if same == (org_id, "held", amount_micros):
            return ReservationView.of(existing)
        raise ReservationError(f"call {call_id} already has a reservation")
    if not await move_hold(
        session,
        org_id=org_id,
        delta_micros=amount_micros,
        min_available_micros=required,
        now=now,
    ):
        available = (await read_balance(session, org_id)).available_micros
        raise InsufficientCredit(
            f"insufficient credit to start a call: {format_usd(available)} available, "
            f"{format_usd(required)} required"
        )
    row = Reservation(
        id=new_id("rsv"),
        org_id=org_id,
        call_id=call_id,
        amount_micros=amount_micros,
        status="held",
        expires_at=now + policy.hold_ttl,
        created_at=now,
        shortfall_micros=0,
    )
    session.add(row)
    await session.flush()
    return ReservationView.of(row)


async def extend(
    factory: async_sessionmaker[AsyncSession],
    *,
    org_id: str,
    call_id: str,
    amount_micros: int,
    policy: BillingPolicy,
    now: datetime | None = None,
) -> bool:
    """Grow the hold by `amount_micros` (0: just renew) and push its expiry by `hold_ttl`.

    Returns False, changing nothing, when available credit cannot cover the increase: the call
    must then wind down politely within what it already holds. A hold that is no longer open
    (settled, swept or expired) raises `ReservationError`.
    """
    _check_amount(amount_micros, allow_zero=True)
    now = now or utcnow()

    async def work(session: AsyncSession) -> bool:
        row = await _locked(session, org_id, call_id)
        _require_open(row, now)
        if amount_micros and not await move_hold(
            session, org_id=org_id, delta_micros=amount_micros, now=now
        ):
            return False
        row.amount_micros += amount_micros
        row.expires_at = now + policy.hold_ttl
        row.alive_at = now
        await session.flush()
        return True

    return await run_write(factory, work)


@dataclass(frozen=True, slots=True)
class HoldRenewal:
    """What `extend_many` did with each call, one set of call ids per outcome.

    `extended`: renewed; `short`: short of credit, so the call must wind down; `closed`:
    without an open hold (settled, swept, expired or never taken).
    """

    extended: frozenset[str]
    short: frozenset[str]
    closed: frozenset[str]


async def extend_many(
    factory: async_sessionmaker[AsyncSession],
    calls: Sequence[str],
    *,
    amount_micros: int,
    policy: BillingPolicy,
    now: datetime | None = None,
) -> HoldRenewal:
    """`extend` for many calls in one write transaction.

    A periodic renewal of every live call must not become one transaction per call (a hundred
    serialized writes that every call set-up queues behind). Each org's increase is taken in
    one move when its credit covers all of its calls; otherwise its calls are extended oldest
    first while credit lasts.
    """
    _check_amount(amount_micros, allow_zero=True)
    now = now or utcnow()

    async def work(session: AsyncSession) -> HoldRenewal:
        query = select(Reservation).where(Reservation.call_id.in_(calls)).order_by(Reservation.id)
        if is_postgres(session):
            query = query.with_for_update()
        rows = (await session.scalars(query.execution_options(populate_existing=True))).all()
        by_org: dict[str, list[Reservation]] = {}
        for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
            if row.status == "held" and now < row.expires_at:
                by_org.setdefault(row.org_id, []).append(row)
        grown: list[Reservation] = []
        for org_id in sorted(by_org):  # one lock order for every writer
            grown += await _grow_holds(session, org_id, by_org[org_id], amount_micros, now)
        if grown:
            await session.execute(
                update(Reservation)
                .where(Reservation.id.in_([row.id for row in grown]))
                .values(
                    amount_micros=Reservation.amount_micros + amount_micros,
                    expires_at=now + policy.hold_ttl,
                    alive_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        extended = frozenset(row.call_id for row in grown)
        open_ = frozenset(row.call_id for held in by_org.values() for row in held)
        if open_ - extended:  # short of credit, but alive: their connected time still counts
            await session.execute(
                update(Reservation)
                .where(Reservation.call_id.in_(open_ - extended))
                .values(alive_at=now)
                .execution_options(synchronize_session=False)
            )
        return HoldRenewal(
            extended=extended,
            short=open_ - extended,
            closed=frozenset(calls) - open_,
        )

    return await run_write(factory, work)


async def _grow_holds(
    session: AsyncSession,
    org_id: str,
    rows: list[Reservation],
    amount_micros: int,
    now: datetime,
) -> list[Reservation]:
    """The org's holds that its credit covers growing by `amount_micros` each."""
    if not amount_micros or await move_hold(
        session, org_id=org_id, delta_micros=amount_micros * len(rows), now=now
    ):
        return rows
    covered: list[Reservation] = []
    for row in rows:
        if not await move_hold(session, org_id=org_id, delta_micros=amount_micros, now=now):
            break
        covered.append(row)
    return covered


async def _usage_totals(session: AsyncSession, org_id: str, call_id: str) -> tuple[int, int, int]:
    """(connected ms, provider cost billed to the org, row count) of a call's recorded usage."""
    usage = UsageRecord
    connected = case((usage.unit == "transport_ms", usage.quantity), else_=0)
    row = (
        await session.execute(
            select(
                cast(func.coalesce(func.sum(connected), 0), BigInteger),
                cast(func.coalesce(func.sum(usage.billed_micros), 0), BigInteger),
                func.count(),
            ).where(usage.org_id == org_id, usage.call_id == call_id)
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def _close(
    session: AsyncSession,
    row: Reservation,
    *,
    policy: BillingPolicy,
    connected_ms: int,
    provider_micros: int,
    charged_micros: int,
    status: SettleStatus,
    now: datetime,
) -> Settlement:
    """Charge, release the whole hold and mark the reservation closed, in the caller's tx."""
    minutes, fee = policy.platform_fee(connected_ms)
    shortfall = fee + provider_micros - charged_micros
    entry = await post_entry(
        session,
        org_id=row.org_id,
        amount_micros=-charged_micros,
        kind="call_charge",
        # One charge per call, whatever path gets here: the unique key is the last line of defence.
        idempotency_key=f"call:{row.call_id}",
        fingerprint=request_hash("call_charge", row.org_id, row.call_id),
        call_id=row.call_id,
        description=f"call {row.call_id}: {minutes} min platform fee + provider usage",
        reserved_delta=-row.amount_micros,
        now=now,
    )
    if entry is None:  # unreachable while charged <= hold + available, kept as a guard
        raise ReservationError(f"the charge of call {row.call_id} would break the credit floor")
    row.status = status
    row.settled_at = now
    row.settle_entry_id = entry.id
    row.charged_micros = charged_micros
    row.platform_fee_micros = fee
    row.provider_micros = provider_micros
    row.shortfall_micros = shortfall
    await session.flush()
    return Settlement(
        call_id=row.call_id,
        entry_id=entry.id,
        connected_ms=connected_ms,
        call_minutes=minutes,
        platform_fee_micros=fee,
        provider_micros=provider_micros,
        charged_micros=charged_micros,
        shortfall_micros=shortfall,
        status=status,
    )


async def settle(
    factory: async_sessionmaker[AsyncSession],
    *,
    org_id: str,
    call_id: str,
    policy: BillingPolicy,
    usage: Sequence[UsageEvent] = (),
    now: datetime | None = None,
) -> Settlement:
    """Charge a finished call exactly once and release its hold, in one transaction.

    `usage` (e.g. what the recorder handed back on stop) is stored first, idempotently and in
    its own transaction, so it is never lost even when settling is refused and the sweeper
    charges the call later. Rejected with `ReservationError`: no hold, already settled or swept,
    expired, or a charge larger than the hold.
    """
    now = now or utcnow()
    if usage:
        await record_usage(factory, policy.pricing, usage)

    async def work(session: AsyncSession) -> Settlement:
        row = await _locked(session, org_id, call_id)
        _require_open(row, now)
        connected_ms, provider, _rows = await _usage_totals(session, org_id, call_id)
        charge = policy.platform_fee(connected_ms)[1] + provider
        if charge > row.amount_micros:
            raise ReservationError(
                f"call {call_id} costs {format_usd(charge)} but holds "
                f"{format_usd(row.amount_micros)}; extend the reservation before settling"
            )
        return await _close(
            session,
            row,
            policy=policy,
            connected_ms=connected_ms,
            provider_micros=provider,
            charged_micros=charge,
            status="settled",
            now=now,
        )

    return await run_write(factory, work)


async def _sweep_one(
    session: AsyncSession,
    org_id: str,
    call_id: str,
    policy: BillingPolicy,
    now: datetime,
    grace: timedelta,
) -> Settlement | Literal["released"] | None:
    row = await _locked(session, org_id, call_id)
    if row.status != "held" or row.expires_at > now - grace:
        return None  # settled or extended meanwhile
    usage_ms, provider, rows = await _usage_totals(session, org_id, call_id)
    call = await session.get(Call, call_id)
    lost_at = row.alive_at or row.created_at
    if call is not None and call.status != CallState.ENDED.value:
        # Its worker died: the call is over, as of the last moment it was seen alive.
        call.status = CallState.ENDED.value
        call.end_reason = EndReason.SERVER_LOST.value
        call.ended_at = max(lost_at, call.connected_at or lost_at)
    connected_at = call.connected_at if call is not None else None
    if rows == 0 and connected_at is None:  # never connected: nothing was used
        await move_hold(session, org_id=org_id, delta_micros=-row.amount_micros, now=now)
        row.status, row.settled_at, row.charged_micros = "released", now, 0
        await session.flush()
        return "released"
    # Connected time as recorded by the call's end, or (its worker died first) up to the
    # last time the worker saw it alive; a connected call has started its first minute.
    alive_ms = 0
    if connected_at is not None:
        alive_ms = max(1, int((lost_at - connected_at).total_seconds() * 1000))
    connected_ms = max(usage_ms, alive_ms)
    charge = policy.platform_fee(connected_ms)[1] + provider
    account = await read_balance(session, org_id, lock=True)
    collectible = min(charge, row.amount_micros + max(0, account.available_micros))
    return await _close(
        session,
        row,
        policy=policy,
        connected_ms=connected_ms,
        provider_micros=provider,
        charged_micros=collectible,
        status="expired",
        now=now,
    )


async def sweep(
    factory: async_sessionmaker[AsyncSession],
    *,
    policy: BillingPolicy,
    now: datetime | None = None,
    limit: int = 200,
    grace: timedelta = timedelta(0),
    call_ids: Collection[str] | None = None,
) -> SweepReport:
    """Close holds whose call stopped extending them (its process died).

    `grace` lets a live process that settles just after its hold expired win the race: only
    holds expired for longer than that are swept. `call_ids` limits the sweep to those calls
    (a dead node's, whose holds `expire_holds` has just ended).

    A hold with recorded usage is charged from that usage (status `expired`); one without any
    is released. Each hold is closed in its own transaction and only if still held and
    expired, so concurrent sweepers and late settles close every call exactly once.
    """
    now = now or utcnow()
    async with factory() as session:
        due = (
            await session.execute(
                select(Reservation.org_id, Reservation.call_id)
                .where(
                    Reservation.status == "held",
                    Reservation.expires_at <= now - grace,
                    *([Reservation.call_id.in_(call_ids)] if call_ids is not None else []),
                )
                .order_by(Reservation.expires_at)
                .limit(limit)
            )
        ).all()
    settled = released = charged = shortfall = failed = 0
    for org_id, call_id in due:

        async def work(
            session: AsyncSession, org_id: str = org_id, call_id: str = call_id
        ) -> Settlement | Literal["released"] | None:
            return await _sweep_one(session, org_id, call_id, policy, now, grace)

        try:
            outcome = await run_write(factory, work)
        except (BillingError, SQLAlchemyError) as exc:
            # One bad row must not stop the sweep: every other dead call is still closed.
            failed += 1
            log.error("sweeper: the hold of call %s could not be closed: %s", call_id, exc)
            continue
        if outcome == "released":
            released += 1
        elif isinstance(outcome, Settlement):
            settled += 1
            charged += outcome.charged_micros
            shortfall += outcome.shortfall_micros
    return SweepReport(settled, released, charged, shortfall, failed)


async def expire_holds(
    factory: async_sessionmaker[AsyncSession], call_ids: Collection[str], *, now: datetime
) -> int:
    """Expire the holds of calls known dead (their node stopped its heartbeat) as of `now`.

    `sweep` then settles them without waiting for the hold to run out.
    """
    if not call_ids:
        return 0
    statement = (
        update(Reservation)
        .where(
            Reservation.call_id.in_(call_ids),
            Reservation.status == "held",
            Reservation.expires_at > now,
        )
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    return await run_update(factory, statement)
