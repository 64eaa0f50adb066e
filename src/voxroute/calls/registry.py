"""Per-process call registry: admission control and hang-up by call id.

Admission control is the calls-per-worker cap and the event-loop watchdog.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from voxroute.calls.state import EndReason
from voxroute.errors import RateLimited
from voxroute.tasks import TaskGroup

__all__ = ["AdmissionRefused", "CallRegistry", "Hangup"]

log = logging.getLogger(__name__)
# Live calls needed before their measured cost is trusted to project the next one's.
MIN_CALLS_FOR_ESTIMATE = 4
Hangup = Callable[[str], Awaitable[None]]


class AdmissionRefused(RateLimited):
    """This worker cannot take another call right now."""

    code = "call_admission_refused"
    status_code = 503


class CallRegistry:
    """Live calls of this worker process.

    `admit()` is synchronous, so check-and-add is atomic on the event loop: with N parallel
    starts exactly `max_calls` get in.

    The watchdog refuses new calls when the event loop falls behind: its lag (how late a
    100 ms sleep wakes, median of the last few) or how busy it is (the loop thread's CPU
    time over the last `busy_window_s`). Lag says the loop *is* late; the busy share says
    it is about to be: a loop busy 75 % of the time makes every call's next frame wait
    behind the others', and the set-ups of calls arriving then queue for seconds
    while the lag median still looks small.

    Capacity is measured, not configured: with a few calls up, the busy share divided by the
    live calls is what one call costs *this* worker on *this* machine, and a new call is
    refused when it would take the loop past `loop_busy_limit` (`projected_busy`). A slow
    core (2 % a call) stops near 35 calls, a fast one (0.35 % a call) near 200; `max_calls`
    is only the operator's ceiling above that.

    `setting_up` bounds how many calls set up at once. A set-up holds a database
    connection while the credit hold takes a second one, so unbounded set-ups under a burst
    could each hold one and all wait for another (pool exhaustion); bounded, a burst
    queues here instead, and the live calls' audio is not starved by set-up work.
    """

    def __init__(
        self,
        *,
        max_calls: int,
        loop_lag_limit_ms: float,
        probe_interval_s: float = 0.1,
        lag_window: int = 5,
        max_concurrent_setups: int = 4,
        loop_busy_limit: float = 1.0,
        busy_window_s: float = 2.0,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.max_calls = max_calls
        self.setting_up = asyncio.Semaphore(max_concurrent_setups)
        self.loop_lag_limit_ms = loop_lag_limit_ms
        self.loop_busy_limit = loop_busy_limit
        self._probe_interval_s = probe_interval_s
        self._lag_window = lag_window
        self._calls: dict[str, Hangup | None] = {}
        self._recent_lag_ms: list[float] = []
        self._cpu_clock = cpu_clock
        # (wall, loop-thread CPU) samples spanning the busy window, oldest first.
        self._busy_samples: deque[tuple[float, float]] = deque(
            maxlen=max(2, round(busy_window_s / probe_interval_s) + 1)
        )
        self._tasks = TaskGroup("call-registry")
        self._started = False

    # -- watchdog ------------------------------------------------------------------------
    async def start(self) -> None:
        if not self._started:
            self._started = True
            self._tasks.spawn(self._watch_loop(), "loop-watchdog")

    async def stop(self) -> None:
        await self._tasks.cancel_all(grace_s=2.0)

    async def _watch_loop(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self._probe_interval_s)
            now = time.perf_counter()
            self.observe_lag(max(0.0, (now - before - self._probe_interval_s) * 1000))
            self.observe_cpu(now, self._cpu_clock())  # on the loop's thread: its CPU time

    def observe_lag(self, lag_ms: float) -> None:
        self._recent_lag_ms.append(lag_ms)
        del self._recent_lag_ms[: -self._lag_window]

    def observe_cpu(self, wall_s: float, cpu_s: float) -> None:
        """A sample of the loop thread's CPU clock against the wall clock."""
        self._busy_samples.append((wall_s, cpu_s))

    @property
    def loop_busy(self) -> float:
        """Share of the busy window the loop thread spent on the CPU (0 until sampled)."""
        if len(self._busy_samples) < 2:
            return 0.0
        (wall0, cpu0), (wall1, cpu1) = self._busy_samples[0], self._busy_samples[-1]
        return max(0.0, (cpu1 - cpu0) / (wall1 - wall0)) if wall1 > wall0 else 0.0

    @property
    def projected_busy(self) -> float | None:
        """The busy share with one more call, at this worker's measured cost per live call.

        None until `MIN_CALLS_FOR_ESTIMATE` calls are up (a few calls cannot overload it).
        """
        active = len(self._calls)
        if active < MIN_CALLS_FOR_ESTIMATE:
            return None
        return self.loop_busy * (active + 1) / active

    @property
    def loop_lag_ms(self) -> float:
        """Median of the last few probes (one slow GC pause does not close the door)."""
        if not self._recent_lag_ms:
            return 0.0
        ordered = sorted(self._recent_lag_ms)
        return ordered[len(ordered) // 2]

    # -- admission -----------------------------------------------------------------------
    @property
    def active(self) -> int:
        return len(self._calls)

    def refusal_reason(self) -> str | None:
        if len(self._calls) >= self.max_calls:
            return "worker at capacity"
        if self.loop_lag_ms > self.loop_lag_limit_ms:
            return "worker overloaded (event-loop lag)"
        if self.loop_busy_limit < 1.0:
            if self.loop_busy > self.loop_busy_limit:
                return "worker overloaded (event loop busy)"
            projected = self.projected_busy
            if projected is not None and projected > self.loop_busy_limit:
                return "worker at its measured capacity"
        return None

    def admit(self, call_id: str, hangup: Hangup | None = None) -> None:
        """Register a call or raise AdmissionRefused."""
        if call_id in self._calls:
            raise AdmissionRefused("call is already running on this worker")
        reason = self.refusal_reason()
        if reason:
            raise AdmissionRefused(reason)
        self._calls[call_id] = hangup

    def set_hangup(self, call_id: str, hangup: Hangup) -> None:
        if call_id in self._calls:
            self._calls[call_id] = hangup

    def release(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    async def hang_up(self, call_id: str, reason: str = EndReason.HUNG_UP_BY_API.value) -> bool:
        """End a live call of this worker; False if it is not here."""
        hangup = self._calls.get(call_id)
        if hangup is None:
            return False
        await hangup(reason)
        return True

    async def hang_up_all(self, reason: str = EndReason.SERVER_SHUTDOWN.value) -> None:
        for call_id in list(self._calls):
            await self.hang_up(call_id, reason)
