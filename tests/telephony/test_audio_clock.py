"""`AudioClock`: one clock ticks every registered stream until it has nothing left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from voxroute.telephony.audio_clock import AudioClock


@dataclass(eq=False)
class Stream:
    ticks_left: int
    seen: list[float] = field(default_factory=list)
    fail_at: int | None = None

    def tick(self, now: float) -> bool:
        self.seen.append(now)
        if self.fail_at is not None and len(self.seen) == self.fail_at:
            raise RuntimeError("broken stream")
        self.ticks_left -= 1
        return self.ticks_left > 0


@asynccontextmanager
async def running_clock(period_s: float) -> AsyncIterator[AudioClock]:
    clock = AudioClock(period_s=period_s)
    await clock.start()
    try:
        yield clock
    finally:
        await clock.aclose()


async def wait_until(predicate: object, within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_streams_are_ticked_in_step_until_they_are_done() -> None:
    async with running_clock(0.01) as clock:
        short, long = Stream(3), Stream(8)
        clock.add(short)
        clock.add(long)
        await wait_until(lambda: len(long.seen) == 8)
        assert len(short.seen) == 3
        assert short.seen == long.seen[:3]  # one tick serves every stream
        assert len(clock) == 0


async def test_an_idle_clock_does_not_tick() -> None:
    async with running_clock(0.005) as clock:
        clock.add(Stream(1))
        await wait_until(lambda: len(clock) == 0)
        ticks = clock.ticks
        await asyncio.sleep(0.1)
        assert clock.ticks == ticks
        again = Stream(2)
        clock.add(again)  # wakes it up
        await wait_until(lambda: len(again.seen) == 2)


async def test_a_failing_stream_is_removed_and_the_others_keep_their_clock() -> None:
    async with running_clock(0.005) as clock:
        broken, healthy = Stream(100, fail_at=2), Stream(6)
        clock.add(broken)
        clock.add(healthy)
        await wait_until(lambda: len(healthy.seen) == 6)
        assert len(broken.seen) == 2
        assert len(clock) == 0


async def test_a_removed_stream_is_not_ticked_again() -> None:
    async with running_clock(0.005) as clock:
        gone, other = Stream(100), Stream(100)
        clock.add(gone)
        clock.add(other)
        await wait_until(lambda: len(gone.seen) >= 2)
        clock.discard(gone)
        count = len(gone.seen)
        await wait_until(lambda: len(other.seen) >= count + 5)
        assert len(gone.seen) == count
