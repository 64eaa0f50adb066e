"""The credit ledger: append-only entries and one account row per org, changed together.

Every balance change is one transaction that (1) looks for an entry under the idempotency key,
(2) moves the account with a single conditional `UPDATE … WHERE new available >= floor`, and
(3) appends the entry carrying the new balance. Hence balance == sum(entries) always, no
balance goes below its floor however many requests race, and a replay under the same key
returns the entry that was written, even when the replays run concurrently.

A request refused for lack of credit stores nothing: retrying it with the same key after a
top-up may succeed (Stripe would replay the error; a prepaid balance makes retrying useful).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import BigInteger, Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.billing.types import Balance, format_usd
from voxroute.db.base import new_id, utcnow
from voxroute.db.models.billing import CreditAccount, LedgerEntry
from voxroute.db.transactions import insert_ignore, is_postgres, run_write
from voxroute.errors import IdempotencyConflict, InsufficientCredit, InvalidInput

__all__ = [
    "Entry",
    "EntryPage",
    "balance",
    "debit",
    "entries",
    "find_entry",
    "move_hold",
    "open_account",
    "post_entry",
    "read_balance",
    "request_hash",
    "topup",
]

MAX_KEY_LENGTH = 200
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Entry:
    """A ledger entry as returned to callers; `replayed` marks an idempotent replay."""

    id: str
    org_id: str
    seq: int
    amount_micros: int
    balance_after_micros: int
    kind: str
    idempotency_key: str
    call_id: str | None
    description: str
    created_at: datetime
    replayed: bool = field(default=False, compare=False)

    @classmethod
    def of(cls, row: LedgerEntry, *, replayed: bool = False) -> Entry:
        return cls(
            id=row.id,
            org_id=row.org_id,
            seq=row.seq,
            amount_micros=row.amount_micros,
            balance_after_micros=row.balance_after_micros,
            kind=row.kind,
            idempotency_key=row.idempotency_key,
            call_id=row.call_id,
            description=row.description,
            created_at=row.created_at,
            replayed=replayed,
        )


@dataclass(frozen=True, slots=True)
class EntryPage:
    """Newest first; pass `next_before_seq` back as `before_seq` for the next page."""

    entries: list[Entry]
    next_before_seq: int | None


def request_hash(*parts: object) -> str:
    """Canonical fingerprint of a request; the same key must always carry the same one."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"idempotency key must be 1-{MAX_KEY_LENGTH} characters")


def _check_amount(amount_micros: int) -> None:
    if not isinstance(amount_micros, int) or isinstance(amount_micros, bool) or amount_micros <= 0:
        raise InvalidInput("amount must be a positive integer of micro-USD")


async def find_entry(
    session: AsyncSession, org_id: str, key: str, fingerprint: str
) -> Entry | None:
    """The entry already written under `key`, or None; a different request is a conflict."""
    row = await session.scalar(
        select(LedgerEntry).where(LedgerEntry.org_id == org_id, LedgerEntry.idempotency_key == key)
    )
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyConflict(f"idempotency key {key!r} was already used for another request")
    return Entry.of(row, replayed=True)


async def post_entry(
    session: AsyncSession,
    *,
    org_id: str,
    amount_micros: int,
    kind: str,
    idempotency_key: str,
    fingerprint: str,
    call_id: str | None = None,
    description: str = "",
    reserved_delta: int = 0,
    now: datetime | None = None,
) -> Entry | None:
    """Move the account and append the entry; None (nothing written) if the floor would break.

    The one conditional UPDATE is the whole concurrency story: it checks the floor against the
    row version it locks, so racing writers cannot overspend.
    """
    now = now or utcnow()
    acc = CreditAccount
    new_balance = acc.balance_micros + amount_micros
    new_reserved = acc.reserved_micros + reserved_delta
    moved = (
        await session.execute(
            update(acc)
            .where(
                acc.org_id == org_id,
                new_balance - new_reserved >= acc.floor_micros,
                new_reserved >= 0,
            )
            .values(
                balance_micros=new_balance,
                reserved_micros=new_reserved,
                last_seq=acc.last_seq + 1,
                updated_at=now,
            )
            .returning(acc.balance_micros, acc.last_seq)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if moved is None:
        return None
    row = LedgerEntry(
        id=new_id("le"),
        org_id=org_id,
        seq=moved.last_seq,
        amount_micros=amount_micros,
        balance_after_micros=moved.balance_micros,
        kind=kind,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        call_id=call_id,
        description=description,
        created_at=now,
    )
    session.add(row)
    await session.flush()  # a racing replay of the same key fails here and is retried
    return Entry.of(row)


async def read_balance(session: AsyncSession, org_id: str, *, lock: bool = False) -> Balance:
    """The account as this transaction sees it; `lock` holds its row (PostgreSQL) until commit."""
    acc = await session.get(
        CreditAccount, org_id, populate_existing=True, with_for_update=lock and is_postgres(session)
    )
    if acc is None:
        return Balance(org_id=org_id, balance_micros=0, reserved_micros=0, floor_micros=0)
    return Balance(
        org_id=org_id,
        balance_micros=acc.balance_micros,
        reserved_micros=acc.reserved_micros,
        floor_micros=acc.floor_micros,
    )


async def move_hold(
    session: AsyncSession,
    *,
    org_id: str,
    delta_micros: int,
    min_available_micros: int = 0,
    now: datetime | None = None,
) -> bool:
    """Add `delta_micros` (negative: release) to the reserved credit in one conditional UPDATE.

    False, with nothing changed, if available credit would fall below the floor or reserved
    below zero. `min_available_micros` is checked against available credit *before* the hold,
    which is how a call start demands the policy's minimum balance on top of covering its hold.
    """
    params = {
        "account": org_id,
        "delta": delta_micros,
        "minimum": min_available_micros,
        "now": now or utcnow(),
    }
    result = await session.execute(_MOVE_HOLD, params)
    return int(getattr(result, "rowcount", 0) or 0) == 1


def _move_hold_statement() -> Update:
    acc = CreditAccount
    available = acc.balance_micros - acc.reserved_micros - acc.floor_micros
    delta = bindparam("delta", type_=BigInteger)
    return (
        update(acc)
        .where(
            acc.org_id == bindparam("account"),
            available - delta >= 0,
            available >= bindparam("minimum", type_=BigInteger),
            acc.reserved_micros + delta >= 0,
        )
        .values(
            reserved_micros=acc.reserved_micros + delta,
            updated_at=bindparam("now", type_=acc.updated_at.type),
        )
        .execution_options(synchronize_session=False)
    )


# Built once: it runs on every call's set-up.
_MOVE_HOLD = _move_hold_statement()


async def _ensure_account(session: AsyncSession, org_id: str, floor_micros: int = 0) -> None:
    await insert_ignore(
        session,
        CreditAccount,
        [
            {
                "org_id": org_id,
                "balance_micros": 0,
                "reserved_micros": 0,
                "floor_micros": floor_micros,
                "last_seq": 0,
                "updated_at": utcnow(),
            }
        ],
        ["org_id"],
    )


async def open_account(
    factory: async_sessionmaker[AsyncSession], *, org_id: str, floor_micros: int = 0
) -> Balance:
    """Create the org's credit account if missing (a negative floor grants a credit line)."""
    if floor_micros > 0:
        raise InvalidInput("the floor cannot be above zero")

    async def work(session: AsyncSession) -> Balance:
        await _ensure_account(session, org_id, floor_micros)
        return await read_balance(session, org_id)

    return await run_write(factory, work)


OPERATOR_KEY_PREFIX = "operator:"


def operator_key(key: str) -> str:
    """An idempotency key given by an operator (API, CLI), in a namespace of its own.

    voxroute derives its own keys (`call:<id>` for a call's settlement, ...); an operator's
    key can never take one of them and so block an internal entry.
    """
    return OPERATOR_KEY_PREFIX + key


async def topup(
    factory: async_sessionmaker[AsyncSession],
    *,
    org_id: str,
    amount_micros: int,
    idempotency_key: str,
    description: str = "",
    kind: str = "topup",
) -> Entry:
    """Add credit (kind `topup` or a positive `adjustment`); opens the account on first use."""
    _check_amount(amount_micros)
    _check_key(idempotency_key)
    if kind not in ("topup", "adjustment"):
        raise InvalidInput(f"a credit cannot be of kind {kind!r}")
    fingerprint = request_hash("credit", org_id, amount_micros, kind, description)

    async def work(session: AsyncSession) -> Entry:
        if (done := await find_entry(session, org_id, idempotency_key, fingerprint)) is not None:
            return done
        await _ensure_account(session, org_id)
        entry = await post_entry(
            session,
            org_id=org_id,
            amount_micros=amount_micros,
            kind=kind,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            description=description,
        )
        assert entry is not None, "a credit cannot break the floor"
        return entry

    return await run_write(factory, work)


async def debit(
    factory: async_sessionmaker[AsyncSession],
    *,
    org_id: str,
    amount_micros: int,
    idempotency_key: str,
    description: str = "",
    kind: str = "debit",
    call_id: str | None = None,
) -> Entry:
    """Take credit now (not through a call hold); `InsufficientCredit` if available is short."""
    _check_amount(amount_micros)
    _check_key(idempotency_key)
    if kind not in ("debit", "adjustment"):
        raise InvalidInput(f"a debit cannot be of kind {kind!r}")
    fingerprint = request_hash("debit", org_id, amount_micros, kind, description, call_id)

    async def work(session: AsyncSession) -> Entry:
        if (done := await find_entry(session, org_id, idempotency_key, fingerprint)) is not None:
            return done
        entry = await post_entry(
            session,
            org_id=org_id,
            amount_micros=-amount_micros,
            kind=kind,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            call_id=call_id,
            description=description,
        )
        if entry is None:
            available = (await read_balance(session, org_id)).available_micros
            raise InsufficientCredit(
                f"insufficient credit: {format_usd(available)} available, "
                f"{format_usd(amount_micros)} needed"
            )
        return entry

    return await run_write(factory, work)


async def balance(factory: async_sessionmaker[AsyncSession], *, org_id: str) -> Balance:
    """Balance, reserved and available credit (zero for an org that never topped up)."""
    async with factory() as session:
        return await read_balance(session, org_id)


async def entries(
    factory: async_sessionmaker[AsyncSession],
    *,
    org_id: str,
    limit: int = 50,
    before_seq: int | None = None,
) -> EntryPage:
    """One page of the org's entries, newest first (keyset pagination on the per-org seq)."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(LedgerEntry).where(LedgerEntry.org_id == org_id)
    if before_seq is not None:
        query = query.where(LedgerEntry.seq < before_seq)
    query = query.order_by(LedgerEntry.seq.desc()).limit(limit + 1)
    async with factory() as session:
        rows = list((await session.scalars(query)).all())
    page = [Entry.of(row) for row in rows[:limit]]
    more = len(rows) > limit
    return EntryPage(entries=page, next_before_seq=page[-1].seq if more and page else None)
