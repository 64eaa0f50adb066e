"""One 20 ms media clock for every simulated call, spread over phase slots.

A task and a timer per call would cost the load side a wake-up per call every 20 ms (5,000
a second at 100 calls) and would line every call's frame up on the same instant. Here one
task wakes every `FRAME_S / SLOTS`, serves the calls in that phase slot and measures its own
lateness: when the load generator is the bottleneck, `lag_ms` says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["FRAME_S", "FrameClock", "Tick"]

FRAME_S = 0.02
SLOTS = 10
Tick = Callable[[float], Awaitable[None]]


class FrameClock:
    """Calls each registered `tick(now)` once per 20 ms, in its phase slot."""

    def __init__(self) -> None:
        self._slots: list[dict[int, Tick]] = [{} for _ in range(SLOTS)]
        self._next_id = 0
        self.lag_ms: list[float] = []  # lateness of each slot wake-up, for the report

    def add(self, tick: Tick) -> int:
        """Register a call; slots fill round-robin so load stays even across the period."""
        handle = self._next_id
        self._next_id += 1
        self._slots[handle % SLOTS][handle] = tick
        return handle

    def remove(self, handle: int) -> None:
        self._slots[handle % SLOTS].pop(handle, None)

    async def run(self) -> None:
        """Until cancelled. A late wake-up is measured, never caught up in a burst."""
        step = FRAME_S / SLOTS
        next_at = time.monotonic()
        slot = 0
        while True:
            next_at += step
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.monotonic()
            late = now - next_at
            self.lag_ms.append(late * 1000)
            if late > FRAME_S:  # hopelessly behind: resynchronise instead of bursting
                next_at = now
            for tick in list(self._slots[slot].values()):
                await tick(now)
            slot = (slot + 1) % SLOTS
