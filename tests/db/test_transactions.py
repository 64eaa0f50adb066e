"""Write transactions: in-process writers queue for SQLite's lock instead of colliding on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select
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
from voxroute.db.transactions import write_session

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
