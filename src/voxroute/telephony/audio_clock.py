"""`AudioClock`: one 20 ms clock per worker for every call's outbound audio.

pipecat paces each call's output with its own task: per 40 ms chunk a `wait_for` (a new
task), a serialize and a `sleep`, so a worker with N speaking calls runs N timers and
creates 25·N tasks a second. Here one clock ticks for the whole worker; on each tick every
registered stream releases the audio that is due (`ClockedStream.tick`), which is cheap
and synchronous, and wakes its own sender only if something was released. Streams leave
the clock when they have nothing left to play, so an idle worker does not tick at all.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

__all__ = ["TICK_S", "AudioClock", "ClockedStream"]

log = logging.getLogger(__name__)

TICK_S = 0.02  # Twilio's frame length


class ClockedStream(Protocol):
    """A call's outbound audio that the worker's clock releases on each tick."""

    def tick(self, now: float) -> bool:
        """Release what is due at `now` (loop time). False: nothing left, leave the clock."""
        ...


class AudioClock:
    """One 20 ms clock per worker that ticks every registered stream while any has audio."""

    def __init__(self, period_s: float = TICK_S) -> None:
        self._period = period_s
        self._streams: dict[ClockedStream, None] = {}  # insertion-ordered set
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Handle | None = None
        self.ticks = 0

    def __len__(self) -> int:
        return len(self._streams)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None
        self._streams.clear()

    def add(self, stream: ClockedStream) -> None:
        """Tick `stream` from the next tick on, until its `tick` returns False."""
        self._streams[stream] = None
        if self._timer is None and self._loop is not None:  # idle: tick now
            self._timer = self._loop.call_soon(self._on_timer)

    def discard(self, stream: ClockedStream) -> None:
        self._streams.pop(stream, None)

    def _on_timer(self) -> None:
        # A plain loop timer, not a task sleeping: the tick runs when its timer fires,
        # not one `call_soon` later behind everything the loop's I/O made ready meanwhile.
        loop = self._loop
        self._timer = None
        if loop is None:
            return
        now = loop.time()
        self._tick(now)
        if self._streams:
            # The grid is the tick after `now`, not `previous + period`: a tick delayed by a
            # busy loop is not followed by a burst of catch-up ticks (each stream's own
            # play-out clock decides how much to release).
            after = loop.time()
            self._timer = loop.call_at(
                after + self._period - (after - now) % self._period, self._on_timer
            )

    def _tick(self, now: float) -> None:
        self.ticks += 1
        done: list[ClockedStream] = []
        for stream in self._streams:
            try:
                if not stream.tick(now):
                    done.append(stream)
            except Exception:  # one broken stream must not stop every call's audio
                log.exception("audio clock: a stream failed; removing it")
                done.append(stream)
        for stream in done:
            self._streams.pop(stream, None)
