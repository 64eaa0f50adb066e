"""Owned asyncio tasks: every task is named, tracked and cancelled with a timeout."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["TaskGroup"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class TaskGroup:
    """A small owner for background tasks (unlike asyncio.TaskGroup, one failure cancels nothing).

    Failures of a task are logged (by type, never with payloads) when it finishes.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"task group {self._name} is closed")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self._name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.warning("task %s failed: %s", task.get_name(), type(exc).__name__)

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self, grace_s: float = 5.0) -> None:
        """Cancel every task still running and wait up to `grace_s` for them to finish."""
        self._closed = True
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace_s)
            for task in still:
                log.error("task %s did not stop within %.1fs", task.get_name(), grace_s)
