"""Per-tenant request rate limits for the REST API: a noisy org slows only itself.

A token bucket per organization (per token for platform admins): `burst` requests at once,
refilled at `per_second`. Buckets live in the worker process; with N workers an org gets up
to N times the rate, which still bounds what one tenant takes from the others on each
worker. Idle buckets are dropped so the table stays as small as the set of active tenants.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from voxroute.errors import RateLimited

__all__ = ["TenantRateLimiter"]

_PRUNE_EVERY = 1024  # checks between sweeps of full (idle) buckets


class TenantRateLimiter:
    """A token bucket per tenant key: `burst` requests at once, refilled at `per_second`."""

    def __init__(
        self,
        *,
        per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._checks = 0

    def check(self, key: str) -> None:
        """Take one request from `key`'s bucket, or raise `RateLimited` with a Retry-After."""
        now = self._clock()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / self.per_second)
            raise RateLimited("too many requests for this organization", retry_after_s=wait)
        self._buckets[key] = (tokens - 1.0, now)
        self._checks += 1
        if self._checks % _PRUNE_EVERY == 0:
            self._prune(now)

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.per_second
        self._buckets = {
            key: (tokens, at)
            for key, (tokens, at) in self._buckets.items()
            if now - at < full_after
        }
