"""Write transactions on an event loop of their own, in a thread of their own.

Every statement of a transaction is a round trip: to aiosqlite's thread (or asyncpg's
socket) and back *through the event loop*, whose next turn comes only after every callback
already queued. On a worker serving a hundred calls one turn can take 5–20 ms, so a call's
connect transaction (six statements) held SQLite's write lock, or the org's credit row on
PostgreSQL, for 100–450 ms at p99, and the call set-ups that arrived meanwhile queued behind
it for seconds (BENCHMARKS.md §5, sixth and seventh rounds).

A `DatabaseWriter` owns a second loop that does nothing but database work, with its own
engine on the same database. `run_write` hands a transaction to it whole: the statements'
round trips take that quiet loop's turns, and the worker's loop pays one hop there and one
back. The GIL still interleaves the two threads, but a waiting thread gets it within the
switch interval (5 ms), not after the busy loop's backlog.

Work handed over must touch nothing but its session and plain values: it runs on the other
thread. Objects it returns cross back detached (the factory does not expire on commit).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from voxroute.db.session import create_engine, create_session_factory

__all__ = ["DatabaseWriter"]

T = TypeVar("T")


class DatabaseWriter:
    """A thread running an event loop with its own engine; `run` awaits work done there."""

    def __init__(self, url: str, *, name: str = "voxroute-db") -> None:
        self._url = url
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: AsyncEngine | None = None
        self.factory: async_sessionmaker[AsyncSession] | None = None

    async def start(self) -> None:
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, args=(ready,), name=self._name)
        self._thread.daemon = True  # never keeps a crashed process alive; aclose joins it
        self._thread.start()
        await asyncio.wrap_future(ready)

    def _main(self, ready: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._engine = create_engine(self._url)
            self.factory = create_session_factory(self._engine)
        except Exception as exc:  # noqa: BLE001 (handed to `start`, which raises it)
            ready.set_exception(exc)
            loop.close()
            return
        self._loop = loop
        loop.call_soon(ready.set_result, None)  # once the loop runs: `run` may use it then
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    @property
    def running(self) -> bool:
        return self._loop is not None and self._loop.is_running()

    def on_own_loop(self) -> bool:
        """True when called from work already running on the writer's loop."""
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def run(self, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
        """`work(factory)` on the writer's loop; its result or exception comes back here.

        Cancelling the caller cancels the work (its transaction rolls back)."""
        loop, factory = self._loop, self.factory
        if loop is None or factory is None or not loop.is_running():
            raise RuntimeError("the database writer is not running")

        async def call() -> T:
            return await work(factory)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), loop))

    async def aclose(self) -> None:
        """Dispose of the engine on its own loop, then stop the loop and join the thread."""
        loop, thread, engine = self._loop, self._thread, self._engine
        self._loop = None
        if loop is None or thread is None:
            return
        if engine is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(engine.dispose(), loop))
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
