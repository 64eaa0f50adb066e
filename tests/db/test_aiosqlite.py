"""The SQLite adapter: one trip to aiosqlite's thread per statement, transactions intact.

Trips are counted at aiosqlite's own queue (`Connection._execute`, which every aiosqlite
call goes through); the statements themselves run for real on a database file.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from voxroute.db.session import create_engine, create_session_factory
from voxroute.db.transactions import run_write, write_session


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'adapter.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The name of every function aiosqlite's thread runs for us, in order."""
    seen: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield seen


async def _values(factory: async_sessionmaker[AsyncSession]) -> list[str]:
    async with factory() as session:
        return list((await session.scalars(text("SELECT v FROM t ORDER BY id"))).all())


async def test_a_read_only_session_takes_one_trip_per_statement(
    factory: async_sessionmaker[AsyncSession], trips: list[str]
) -> None:
    await _values(factory)  # the pool's connection is open and its state known
    trips.clear()
    async with factory() as session:
        rows = (await session.execute(text("SELECT 1 UNION SELECT 2"))).all()
        assert [tuple(r) for r in rows] == [(1,), (2,)]
        await session.execute(text("SELECT 3"))
    # The stock adapter: cursor, execute, fetchall, close per SELECT, then two rollbacks.
    assert trips == ["_run", "_run"]


async def test_a_write_takes_a_trip_per_statement_and_one_to_commit(
    factory: async_sessionmaker[AsyncSession], trips: list[str]
) -> None:
    await _values(factory)
    trips.clear()
    async with write_session(factory) as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('a')"))
    assert trips == ["_run", "_run", "commit"]  # BEGIN IMMEDIATE, INSERT, COMMIT
    assert await _values(factory) == ["a"]


async def test_a_failed_write_is_rolled_back_and_the_connection_is_left_clean(
    factory: async_sessionmaker[AsyncSession], trips: list[str]
) -> None:
    async def insert_twice(session: AsyncSession) -> None:
        await session.execute(text("INSERT INTO t (v) VALUES ('kept-out')"))
        await session.execute(text("INSERT INTO t (v) VALUES ('kept-out')"))

    with pytest.raises(IntegrityError):
        await run_write(factory, insert_twice, retry_integrity=False)
    assert "rollback" in trips  # the open transaction was really rolled back
    assert await _values(factory) == []
    # The pooled connection is not stuck in the failed transaction: it writes again.
    async with write_session(factory) as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('b')"))
    assert await _values(factory) == ["b"]


async def test_an_error_in_the_work_rolls_back_what_it_wrote(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    class Refused(Exception):
        pass

    async def write_then_refuse(session: AsyncSession) -> None:
        await session.execute(text("INSERT INTO t (v) VALUES ('never')"))
        raise Refused

    with pytest.raises(Refused):
        await run_write(factory, write_then_refuse)
    assert await _values(factory) == []


async def test_row_counts_returning_and_executemany_come_back(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with write_session(factory) as session:
        await session.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x"}, {"v": "y"}, {"v": "z"}]
        )
        updated = await session.execute(text("UPDATE t SET v = v || '!' WHERE v != 'y'"))
        assert getattr(updated, "rowcount", None) == 2
        returned = await session.execute(text("INSERT INTO t (v) VALUES ('w') RETURNING id, v"))
        assert [tuple(r) for r in returned] == [(4, "w")]
    assert await _values(factory) == ["x!", "y", "z!", "w"]


async def test_sqlite_errors_keep_their_dbapi_types(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with factory() as session:
        with pytest.raises(Exception, match="no such table") as raised:
            await session.execute(text("SELECT * FROM missing"))
    assert type(raised.value).__name__ == "OperationalError"


async def test_a_statement_cancelled_in_flight_is_rolled_back(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """The caller gave up while the thread ran the INSERT (which opens SQLite's implicit
    transaction): nothing it wrote stays, and no pooled connection is left holding the
    write lock. (SQLAlchemy discards a connection cancelled mid-statement; the adapter
    also marks its transaction state unknown, so a rollback would take its trip.)"""
    await _values(factory)
    async with factory() as session:
        insert = asyncio.create_task(session.execute(text("INSERT INTO t (v) VALUES ('c')")))
        await asyncio.sleep(0)  # the statement is on its way to the thread
        insert.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await insert
    impatient = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'adapter.db'}", connect_args={"timeout": 0}
    )
    try:
        async with impatient.begin() as conn:  # fails "database is locked" if it were held
            await conn.execute(text("INSERT INTO t (v) VALUES ('d')"))
    finally:
        await impatient.dispose()
    assert await _values(factory) == ["d"]
