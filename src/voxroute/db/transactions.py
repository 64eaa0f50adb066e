"""Write transactions (money, call starts): serialized on SQLite, retried on PostgreSQL conflicts.

PostgreSQL runs at READ COMMITTED: a conditional `UPDATE credit_accounts … WHERE available >=
amount` takes the row lock and re-checks its condition on the newest row version, so
concurrent debits can never overspend. Serialization failures (40001) and deadlocks (40P01)
are retried with jittered back-off.

SQLite upgrades a deferred read transaction to a write lock too late to wait for it (it fails
with "database is locked"), so every write transaction starts with `BEGIN IMMEDIATE`; in-process
writers also queue on an asyncio lock per database, first come first served. Without that
queue, a writer that finds the lock taken sleeps in SQLite's busy handler (1, 2, 5 … 100 ms
at a time) and under load keeps losing the lock to writers that arrive later: call set-ups
waited seconds behind webhooks and call ends.

A unique-key violation is retried once: the work functions re-read state first, so the retry
turns a lost race on an idempotency key into a replay of the winner's result.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Update, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.db.base import Base

T = TypeVar("T")

RETRY_SQLSTATES = frozenset({"40001", "40P01"})
MAX_ATTEMPTS = 10
INTEGRITY_RETRIES = 2

_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_lock(database: str) -> asyncio.Lock:
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(database, asyncio.Lock())


def _retryable(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate in RETRY_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


@asynccontextmanager
async def _begin(session: AsyncSession) -> AsyncIterator[None]:
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        async with session.begin():
            yield
        return
    database = str(bind.engine.url)
    async with _sqlite_lock(database), session.begin():
        await session.execute(text("BEGIN IMMEDIATE"))
        yield


@asynccontextmanager
async def write_session(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session in one write transaction that commits on success.

    On SQLite it is queued behind this process's other writers, so read what you can before
    entering: the queue waits for it.
    """
    async with factory() as session, _begin(session):
        yield session


async def run_write(
    factory: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    retry_integrity: bool = True,
) -> T:
    """Run `work` in one write transaction, retrying transient conflicts from the start.

    `work` must be safe to re-run: it reads the state it depends on inside the transaction.
    Domain errors raised by `work` roll the transaction back and propagate unchanged; so
    does a unique-key violation when `retry_integrity` is false (an insert that lost a race).
    """
    attempt = 0
    integrity_left = INTEGRITY_RETRIES if retry_integrity else 0
    while True:
        attempt += 1
        try:
            async with write_session(factory) as session:
                return await work(session)
        except IntegrityError:
            if integrity_left == 0:
                raise
            integrity_left -= 1
        except DBAPIError as exc:
            if attempt >= MAX_ATTEMPTS or not _retryable(exc):
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311


async def run_update(factory: async_sessionmaker[AsyncSession], statement: Update) -> int:
    """One UPDATE as a write transaction of its own (`run_write`); the rows it changed."""

    async def execute(session: AsyncSession) -> int:
        result = await session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    return await run_write(factory, execute)


async def insert_ignore(
    session: AsyncSession, table: type[Base], rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> int:
    """INSERT … ON CONFLICT (keys) DO NOTHING on either backend; returns rows inserted.

    The rows go as executemany parameters of one cached statement, which SQLAlchemy batches
    into multi-row INSERTs itself ("insertmanyvalues"); RETURNING counts what was inserted on
    both drivers. Rows embedded with `.values(rows)` make a statement that is compiled anew
    on every call: 5 % of a 100-call worker's event loop (`bench/usage_insert.py`).
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    module: Any = sqlite if dialect == "sqlite" else postgresql
    stmt = (
        module.insert(table.__table__)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(table.__table__.c[keys[0]])
    )
    connection = await session.connection()
    result = await connection.execute(stmt, list(rows))
    return len(result.all())


def is_postgres(session: AsyncSession) -> bool:
    """Whether the session runs on PostgreSQL, which needs row locks (SQLite serialises writers)."""
    return session.get_bind().dialect.name == "postgresql"
