"""Periodic housekeeping of one worker process (owned tasks, stopped with the app)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.calls.records import expire_unconnected_calls
from voxroute.tasks import TaskGroup

log = logging.getLogger("voxroute.maintenance")


class Maintenance:
    """Ends calls that rang but never connected, every `interval_s`, from a task it owns."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        call_token_ttl_s: int,
        interval_s: float = 30.0,
    ) -> None:
        self._factory = factory
        # A ringing call is abandoned once its token can no longer start a stream.
        self._ringing_limit = timedelta(seconds=call_token_ttl_s * 2)
        self._interval_s = interval_s
        self._tasks = TaskGroup("maintenance")

    async def start(self) -> None:
        self._tasks.spawn(self._loop(), "expire-unconnected-calls")

    async def stop(self) -> None:
        await self._tasks.cancel_all(grace_s=2.0)

    async def run_once(self) -> int:
        expired = await expire_unconnected_calls(self._factory, older_than=self._ringing_limit)
        if expired:
            log.info("ended %d call(s) that never connected", expired)
        return expired

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.run_once()
            except SQLAlchemyError as exc:  # the database may be briefly away; try next tick
                log.warning("maintenance tick failed: %s", type(exc).__name__)
