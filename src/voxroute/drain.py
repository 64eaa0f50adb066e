"""A node's drain for a rolling restart: stop taking calls, let the live ones finish.

    SERVING ──SIGTERM──▶ DRAINING ──last call ended──────────────────▶ (process exits)
                            └──deadline or 2nd SIGTERM──▶ ENDING ──▶ (goodbye, billed, exits)

While draining, readiness (`/health/ready`) answers 503 so the load balancer sends new calls
elsewhere, and the admission refuses whatever still arrives with the carrier's busy answer.
Live calls, their media streams and the REST API (a hang-up, a status callback) keep working.
The signal handling lives in `voxroute.cli._server`; this is only the state, so that the
admission and the health route can read it without knowing about signals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

__all__ = ["Drain", "DrainState"]

log = logging.getLogger(__name__)


class DrainState(StrEnum):
    """Where a worker is in a rolling restart: serving, draining, or ending its last calls."""

    SERVING = "serving"
    DRAINING = "draining"
    ENDING = "ending"  # the deadline passed (or a second signal): live calls are being ended


class Drain:
    """One per worker process; moves forward only."""

    def __init__(self, deadline_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline_s = deadline_s
        self._clock = clock
        self.state = DrainState.SERVING
        self._started_at: float | None = None

    @property
    def draining(self) -> bool:
        """True from the first SIGTERM on: no new calls."""
        return self.state is not DrainState.SERVING

    def begin(self) -> bool:
        """Start draining; False if it already had."""
        if self.state is not DrainState.SERVING:
            return False
        self.state = DrainState.DRAINING
        self._started_at = self._clock()
        log.warning("draining: no new calls; live calls may go on for %.0fs", self.deadline_s)
        return True

    def end_now(self) -> bool:
        """Live calls are to be ended now; False if that was already decided."""
        if self.state is DrainState.ENDING:
            return False
        self.begin()
        self.state = DrainState.ENDING
        return True

    @property
    def expired(self) -> bool:
        started = self._started_at
        return started is not None and self._clock() - started >= self.deadline_s

    @property
    def remaining_s(self) -> float | None:
        """Seconds until the deadline while draining (None while serving)."""
        started = self._started_at
        if started is None:
            return None
        return max(0.0, self.deadline_s - (self._clock() - started))
