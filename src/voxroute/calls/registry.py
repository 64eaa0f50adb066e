"""Per-process call registry: admission control (calls-per-worker cap, event-loop-lag
watchdog) and hang-up by call id."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from voxroute.calls.tasks import TaskGroup
from voxroute.errors import RateLimited

__all__ = ["AdmissionRefused", "CallRegistry", "Hangup"]

log = logging.getLogger(__name__)
Hangup = Callable[[str], Awaitable[None]]


class AdmissionRefused(RateLimited):
    """This worker cannot take another call right now."""

    code = "call_admission_refused"
    status_code = 503


class CallRegistry:
    """Live calls of this worker process.

    `admit()` is synchronous, so check-and-add is atomic on the event loop: with N parallel
    starts exactly `max_calls` get in.

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
    ) -> None:
        self.max_calls = max_calls
        self.setting_up = asyncio.Semaphore(max_concurrent_setups)
        self.loop_lag_limit_ms = loop_lag_limit_ms
        self._probe_interval_s = probe_interval_s
        self._lag_window = lag_window
        self._calls: dict[str, Hangup | None] = {}
        self._recent_lag_ms: list[float] = []
        self._tasks = TaskGroup("call-registry")
        self._started = False

    # -- watchdog ------------------------------------------------------------------------
    async def start(self) -> None:
        if not self._started:
            self._started = True
            self._tasks.spawn(self._watch_loop_lag(), "loop-lag-watchdog")

    async def stop(self) -> None:
        await self._tasks.cancel_all(grace_s=2.0)

    async def _watch_loop_lag(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self._probe_interval_s)
            lag = max(0.0, (time.perf_counter() - before - self._probe_interval_s) * 1000)
            self.observe_lag(lag)

    def observe_lag(self, lag_ms: float) -> None:
        self._recent_lag_ms.append(lag_ms)
        del self._recent_lag_ms[: -self._lag_window]

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

    async def hang_up(self, call_id: str, reason: str = "hung_up_by_api") -> bool:
        """End a live call of this worker; False if it is not here."""
        hangup = self._calls.get(call_id)
        if hangup is None:
            return False
        await hangup(reason)
        return True

    async def hang_up_all(self, reason: str = "server_shutdown") -> None:
        for call_id in list(self._calls):
            await self.hang_up(call_id, reason)
