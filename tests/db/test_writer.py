"""The database writer: write transactions run whole on a loop and thread of their own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from voxroute.db.base import new_id
from voxroute.db.models import Organization
from voxroute.db.session import SessionFactory, create_session_factory
from voxroute.db.transactions import run_write
from voxroute.db.writer import DatabaseWriter
from voxroute.errors import InsufficientCredit

WRITES = 20


@pytest.fixture
async def writer(db_url: str) -> AsyncIterator[DatabaseWriter]:
    writer = DatabaseWriter(db_url, name="test-db-writer")
    await writer.start()
    yield writer
    await writer.aclose()


@pytest.fixture
def factory(engine: AsyncEngine, writer: DatabaseWriter) -> SessionFactory:
    return create_session_factory(engine, writer=writer)


async def _names(factory: SessionFactory) -> set[str]:
    async with factory() as session:
        return set((await session.scalars(select(Organization.name))).all())


async def test_the_transaction_runs_on_the_writer_thread(factory: SessionFactory) -> None:
    threads: list[str] = []

    async def work(session: AsyncSession) -> str:
        threads.append(threading.current_thread().name)
        org = Organization(id=new_id("org"), name="written")
        session.add(org)
        await session.flush()
        return org.id

    org_id = await run_write(factory, work)
    assert threads == ["test-db-writer"]
    assert threading.current_thread().name != "test-db-writer"
    async with factory() as session:  # committed, and visible to the worker's own engine
        assert (await session.get(Organization, org_id)) is not None


async def test_a_domain_error_comes_back_unchanged_and_rolls_back(factory: SessionFactory) -> None:
    async def work(session: AsyncSession) -> None:
        session.add(Organization(id=new_id("org"), name="rolled back"))
        await session.flush()
        raise InsufficientCredit("no credit")

    with pytest.raises(InsufficientCredit, match="no credit"):
        await run_write(factory, work)
    assert "rolled back" not in await _names(factory)


async def test_cancelling_the_caller_cancels_the_work(factory: SessionFactory) -> None:
    flushed = threading.Event()

    async def work(session: AsyncSession) -> None:
        session.add(Organization(id=new_id("org"), name="cancelled"))
        await session.flush()
        flushed.set()
        await asyncio.sleep(30)

    task = asyncio.create_task(run_write(factory, work))
    assert await asyncio.to_thread(flushed.wait, 10)  # set on the writer's thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def after(session: AsyncSession) -> None:  # the writer is free again
        session.add(Organization(id=new_id("org"), name="after"))

    await asyncio.wait_for(run_write(factory, after), timeout=10)
    names = await _names(factory)
    assert "after" in names and "cancelled" not in names


async def test_concurrent_writes_all_commit(factory: SessionFactory) -> None:
    async def insert(index: int) -> None:
        async def work(session: AsyncSession) -> None:
            session.add(Organization(id=new_id("org"), name=f"concurrent {index}"))
            await session.flush()
            await asyncio.sleep(0)  # holds the transaction open across a turn of its loop

        await run_write(factory, work)

    await asyncio.gather(*(insert(i) for i in range(WRITES)))
    async with factory() as session:
        count = await session.scalar(select(func.count()).select_from(Organization))
    assert count == WRITES


async def test_a_closed_writer_refuses_work_and_its_thread_is_gone(db_url: str) -> None:
    writer = DatabaseWriter(db_url, name="closing-writer")
    await writer.start()
    assert writer.running
    await writer.aclose()
    assert not writer.running
    assert "closing-writer" not in {t.name for t in threading.enumerate()}
    with pytest.raises(RuntimeError, match="not running"):
        await writer.run(lambda _factory: asyncio.sleep(0))


async def test_a_bad_url_fails_start() -> None:
    writer = DatabaseWriter("nosuchdialect://x")
    with pytest.raises(Exception, match="nosuchdialect"):
        await writer.start()
    assert not writer.running
