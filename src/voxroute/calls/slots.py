"""Per-org concurrency slots: at most `Organization.max_concurrent_calls` live calls per org.

A slot is a **lease** (org, call, expiry), never a bare counter, so nothing leaks when a
process dies::

    voice webhook ── acquire(org, call, limit, ttl=pending) ──▶ lease, or refused (busy)
    stream start  ── hold(org, call) ──▶ renewed every lease_s/3 while the call runs
    call end      ── release(org, call)

A node that dies stops renewing and its leases expire after `lease_s`; a call whose media
stream never arrives frees its slot when the pending lease runs out. `acquire` is one
atomic check-and-add, so with N parallel starts exactly `limit` succeed.

Two implementations of `OrgSlots`: `InProcessOrgSlots` (the embedded default, one process)
and `RedisOrgSlots` (across workers and nodes: one sorted set per org, member = call id,
score = expiry in Redis server time, updated by Lua scripts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol

from voxroute.errors import VoxrouteError
from voxroute.tasks import TaskGroup

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "InProcessOrgSlots",
    "OrgSlots",
    "RedisOrgSlots",
    "SlotsUnavailable",
    "create_org_slots",
]

log = logging.getLogger(__name__)


class SlotsUnavailable(VoxrouteError):
    """The slot store (Redis) could not be reached; the webhook then refuses as busy."""

    code = "org_slots_unavailable"
    status_code = 503


class OrgSlots(Protocol):
    """Leased per-org call slots (see the module docstring for the protocol)."""

    lease_s: float

    async def acquire(self, org_id: str, call_id: str, *, limit: int, ttl_s: float) -> bool:
        """Take a slot (or refresh this call's own) unless `limit` live leases exist."""
        ...

    async def hold(self, org_id: str, call_id: str) -> None:
        """The call is live here: keep its lease renewed until `release`."""
        ...

    async def release(self, org_id: str, call_id: str) -> None: ...

    async def active(self, org_id: str) -> int:
        """Unexpired leases of the org."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None:
        """Stop renewing (leases then expire on their own) and close connections."""
        ...


class _LeasedSlots(ABC):
    """The renewal loop shared by both backends; backends store and expire leases."""

    def __init__(self, *, lease_s: float) -> None:
        self.lease_s = lease_s
        self._held: dict[str, str] = {}  # call_id -> org_id, renewed by this process
        self._tasks = TaskGroup("org-slots")
        self._started = False

    @abstractmethod
    async def acquire(self, org_id: str, call_id: str, *, limit: int, ttl_s: float) -> bool: ...

    @abstractmethod
    async def active(self, org_id: str) -> int: ...

    @abstractmethod
    async def _upsert(self, org_id: str, call_id: str, ttl_s: float) -> None: ...

    @abstractmethod
    async def _renew(self, leases: list[tuple[str, str]], ttl_s: float) -> list[bool]:
        """Extend each (org, call) lease that still exists; False for a lost one."""

    @abstractmethod
    async def _remove(self, org_id: str, call_id: str) -> None: ...

    async def hold(self, org_id: str, call_id: str) -> None:
        # The webhook counted this call; its pending lease outlives the call token, so an
        # upsert only re-creates a lease the store itself lost (e.g. a Redis restart).
        self._held[call_id] = org_id
        await self._upsert(org_id, call_id, self.lease_s)

    async def release(self, org_id: str, call_id: str) -> None:
        self._held.pop(call_id, None)
        await self._remove(org_id, call_id)

    async def renew_all(self) -> None:
        leases = [(org_id, call_id) for call_id, org_id in self._held.items()]
        if not leases:
            return
        for (org_id, call_id), alive in zip(
            leases, await self._renew(leases, self.lease_s), strict=True
        ):
            if not alive and call_id in self._held:
                log.warning("org %s: slot lease of call %s was lost", org_id, call_id)

    async def start(self) -> None:
        if not self._started:
            self._started = True
            self._tasks.spawn(self._renew_loop(), "renew-leases")

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.renew_all()
            except SlotsUnavailable as exc:  # retried at the next tick
                log.warning("org slot renewal failed: %s", exc.message)

    async def aclose(self) -> None:
        await self._tasks.cancel_all(grace_s=2.0)


class InProcessOrgSlots(_LeasedSlots):
    """Leases in a dict; check-and-add runs without an await, so it is atomic on the loop."""

    def __init__(self, *, lease_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        super().__init__(lease_s=lease_s)
        self._clock = clock
        self._leases: dict[str, dict[str, float]] = {}  # org -> call -> expiry

    def _live(self, org_id: str) -> dict[str, float]:
        now = self._clock()
        leases = self._leases.setdefault(org_id, {})
        for call_id in [c for c, expiry in leases.items() if expiry <= now]:
            del leases[call_id]
        return leases

    async def acquire(self, org_id: str, call_id: str, *, limit: int, ttl_s: float) -> bool:
        leases = self._live(org_id)
        if call_id not in leases and len(leases) >= limit:
            return False
        leases[call_id] = self._clock() + ttl_s
        return True

    async def active(self, org_id: str) -> int:
        return len(self._live(org_id))

    async def _upsert(self, org_id: str, call_id: str, ttl_s: float) -> None:
        self._live(org_id)[call_id] = self._clock() + ttl_s

    async def _renew(self, leases: list[tuple[str, str]], ttl_s: float) -> list[bool]:
        alive: list[bool] = []
        for org_id, call_id in leases:
            live = self._live(org_id)
            if call_id in live:
                live[call_id] = self._clock() + ttl_s
            alive.append(call_id in live)
        return alive

    async def _remove(self, org_id: str, call_id: str) -> None:
        self._leases.get(org_id, {}).pop(call_id, None)


# Shared prologue: Redis server time in ms (one clock for every node), expired leases gone.
_PROLOGUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local function lease(member, ttl)
  redis.call('ZADD', KEYS[1], now + ttl, member)
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
end
"""
# KEYS[1]=org set; ARGV: call id, limit, ttl ms → 1 taken (or refreshed), 0 at the cap.
_ACQUIRE = (
    _PROLOGUE
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
lease(ARGV[1], tonumber(ARGV[3]))
return 1
"""
)
# KEYS[1]=org set; ARGV: call id, ttl ms, only-if-present (1/0) → 1 leased, 0 lost.
_RENEW = (
    _PROLOGUE
    + """
if ARGV[3] == '1' and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
lease(ARGV[1], tonumber(ARGV[2]))
return 1
"""
)
_ACTIVE = _PROLOGUE + "return redis.call('ZCARD', KEYS[1])"


class RedisOrgSlots(_LeasedSlots):
    """One sorted set per org (`{prefix}{org_id}`): member call id, score expiry (ms)."""

    def __init__(
        self, client: Redis, *, lease_s: float = 30.0, prefix: str = "voxroute:org-slots:"
    ) -> None:
        super().__init__(lease_s=lease_s)
        self._redis = client
        self._prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._renew_script = client.register_script(_RENEW)
        self._active = client.register_script(_ACTIVE)

    @classmethod
    def from_url(cls, url: str, *, lease_s: float = 30.0) -> RedisOrgSlots:
        from redis.asyncio import Redis

        client = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return cls(client, lease_s=lease_s)

    def _key(self, org_id: str) -> str:
        return self._prefix + org_id

    @asynccontextmanager
    async def _store(self) -> AsyncIterator[None]:
        from redis.exceptions import RedisError

        try:
            yield
        except (RedisError, OSError) as exc:  # never echo the URL: it may carry a password
            raise SlotsUnavailable(f"redis unavailable ({type(exc).__name__})") from exc

    async def acquire(self, org_id: str, call_id: str, *, limit: int, ttl_s: float) -> bool:
        async with self._store():
            taken = await self._acquire(keys=[self._key(org_id)], args=[call_id, limit, _ms(ttl_s)])
        return bool(taken)

    async def active(self, org_id: str) -> int:
        async with self._store():
            return int(await self._active(keys=[self._key(org_id)]))

    async def _upsert(self, org_id: str, call_id: str, ttl_s: float) -> None:
        async with self._store():
            await self._renew_script(keys=[self._key(org_id)], args=[call_id, _ms(ttl_s), 0])

    async def _renew(self, leases: list[tuple[str, str]], ttl_s: float) -> list[bool]:
        async with self._store(), self._redis.pipeline(transaction=False) as pipe:
            for org_id, call_id in leases:
                await self._renew_script(
                    keys=[self._key(org_id)], args=[call_id, _ms(ttl_s), 1], client=pipe
                )
            results = await pipe.execute()
        return [bool(r) for r in results]

    async def _remove(self, org_id: str, call_id: str) -> None:
        async with self._store():
            await self._redis.zrem(self._key(org_id), call_id)

    async def aclose(self) -> None:
        await super().aclose()
        await self._redis.aclose()


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def create_org_slots(redis_url: str, *, lease_s: float) -> OrgSlots:
    """Redis when a URL is configured (several workers or nodes), else in-process."""
    if redis_url:
        return RedisOrgSlots.from_url(redis_url, lease_s=lease_s)
    return InProcessOrgSlots(lease_s=lease_s)
