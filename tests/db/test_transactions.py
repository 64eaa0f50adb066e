"""Write transactions: in-process writers queue for SQLite's lock instead of colliding on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Insert, delete, event, func, select
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from voxroute.db.base import new_id
from voxroute.db.models import Organization
from voxroute.db.session import create_session_factory
from voxroute.db.transactions import insert_ignore, write_session

WRITERS = 12


@pytest.fixture
async def impatient(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """The test database with SQLite's busy timeout at zero: a writer that finds the write
    lock taken fails at once ("database is locked") instead of sleeping in the busy handler."""
    impatient = create_async_engine(sqlite_url, connect_args={"timeout": 0})
    yield impatient
    async with impatient.begin() as conn:
        await conn.execute(delete(Organization))
    await impatient.dispose()


async def _count(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(Organization)) or 0)


async def test_concurrent_writers_each_commit_without_meeting_the_lock(
    impatient: AsyncEngine,
) -> None:
    factory = create_session_factory(impatient)

    async def writer(index: int) -> None:
        async with write_session(factory) as session:
            session.add(Organization(id=new_id("org"), name=f"writer {index}"))
            await session.flush()  # the row is written: this transaction holds the lock
            for _ in range(3):  # and yields to the others while it does
                await asyncio.sleep(0)

    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    assert await _count(factory) == WRITERS


async def test_a_failed_write_rolls_back_and_frees_the_queue(impatient: AsyncEngine) -> None:
    factory = create_session_factory(impatient)
    org_id = new_id("org")
    async with write_session(factory) as session:
        session.add(Organization(id=org_id, name="first"))
    with pytest.raises(IntegrityError):
        async with write_session(factory) as session:
            session.add(Organization(id=new_id("org"), name="kept?"))
            session.add(Organization(id=org_id, name="duplicate"))
    async with write_session(factory) as session:  # not stuck behind the failed one
        session.add(Organization(id=new_id("org"), name="after"))
    async with factory() as session:
        names = set((await session.scalars(select(Organization.name))).all())
    assert names == {"first", "after"}


def _orgs(ids: range) -> list[dict[str, object]]:
    return [{"id": f"org_ins_{i:05d}", "name": f"org {i}"} for i in ids]


async def test_insert_ignore_counts_only_new_rows_across_batches_larger_than_a_page(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with write_session(session_factory) as session:
        first = await insert_ignore(session, Organization, _orgs(range(1_100)), ["id"])
    async with write_session(session_factory) as session:
        # 100 already stored, 1,000 new: the conflicting rows are skipped, not counted
        second = await insert_ignore(session, Organization, _orgs(range(1_000, 2_100)), ["id"])
    assert (first, second) == (1_100, 1_000)
    assert await _count(session_factory) == 2_100
    async with session_factory() as session:
        name = await session.scalar(
            select(Organization.name).where(Organization.id == "org_ins_01050")
        )
    assert name == "org 1050"  # the first write's row, not replaced


async def test_insert_ignore_compiles_once_whatever_the_batch_size(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Rows embedded in the statement (`.values(rows)`) made SQLAlchemy compile every batch
    afresh, a loop stall of ~30 ms per hundred rows under load; one cached statement with
    executemany parameters compiles on its first use only (one-row batches are a plain
    execute, a second statement form, likewise compiled once)."""
    hits: list[bool] = []

    def after_execute(
        conn: Any, clause: Any, multi: Any, params: Any, opts: Any, result: Any
    ) -> None:
        if isinstance(clause, Insert) and clause.table.name == "organizations":
            hits.append(result.context.cache_hit is CACHE_HIT)

    event.listen(engine.sync_engine, "after_execute", after_execute)
    try:
        for start, size in ((0, 3), (3, 7), (10, 40), (50, 1), (51, 1), (52, 5)):
            async with write_session(session_factory) as session:
                rows = _orgs(range(start, start + size))
                await insert_ignore(session, Organization, rows, ["id"])
    finally:
        event.remove(engine.sync_engine, "after_execute", after_execute)
    assert await _count(session_factory) == 57
    assert hits == [False, True, True, False, True, True], hits
