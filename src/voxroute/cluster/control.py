"""Call control that reaches a call wherever it runs: `POST /calls/{id}/hangup` on any node.

    API on node A ── hang_up(call) ──▶ here? registry.hang_up ──▶ done
                                  └──▶ PUBLISH voxroute:calls:control {id, call, reason, reply_to}
    every worker's listener ── holds the call? ── registry.hang_up ──▶ PUBLISH reply_to {id}

Redis pub/sub delivers at most once, so the request is repeated until the worker holding the
call answers (at-least-once); the handler is idempotent (ending a call that is already ending
changes nothing, and still answers). Without Redis (one process) it is the local registry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any, Protocol

from voxroute.calls.registry import CallRegistry
from voxroute.tasks import TaskGroup

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["CallControl", "LocalCallControl", "RedisCallControl", "create_call_control"]

log = logging.getLogger(__name__)
CONTROL_CHANNEL = "voxroute:calls:control"
REPLY_TIMEOUT_S = 1.0  # per attempt; the holder answers within milliseconds
ATTEMPTS = 3
_RECONNECT_S = (0.2, 0.5, 1.0, 2.0)


class CallControl(Protocol):
    """Ends a live call on whichever worker serves it."""

    async def hang_up(self, call_id: str, reason: str) -> bool:
        """End the live call wherever it runs; False when no worker holds it."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class LocalCallControl:
    """One process: the call is here or nowhere."""

    def __init__(self, registry: CallRegistry) -> None:
        self._registry = registry

    async def hang_up(self, call_id: str, reason: str) -> bool:
        return await self._registry.hang_up(call_id, reason)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class RedisCallControl:
    """Requests over one Redis channel; each worker answers on its own reply channel."""

    def __init__(self, client: Redis, registry: CallRegistry, node_id: str) -> None:
        self._redis = client
        self._registry = registry
        self._reply_channel = f"voxroute:calls:reply:{node_id}"
        self._pending: dict[str, asyncio.Future[bool]] = {}
        self._subscribed = asyncio.Event()
        self._tasks = TaskGroup("call-control")

    @classmethod
    def from_url(cls, url: str, registry: CallRegistry, node_id: str) -> RedisCallControl:
        from redis.asyncio import Redis

        client = Redis.from_url(
            url, socket_connect_timeout=2.0, decode_responses=True, health_check_interval=10
        )
        return cls(client, registry, node_id)

    async def start(self) -> None:
        self._tasks.spawn(self._listen(), "listen")
        try:  # not fatal: requests are repeated, and the listener keeps reconnecting
            await asyncio.wait_for(self._subscribed.wait(), 5.0)
        except TimeoutError:
            log.warning("call control: not subscribed yet (redis unreachable?)")

    async def aclose(self) -> None:
        await self._tasks.cancel_all(grace_s=2.0)
        await self._redis.aclose()

    async def hang_up(self, call_id: str, reason: str) -> bool:
        from redis.exceptions import RedisError

        if await self._registry.hang_up(call_id, reason):
            return True
        request_id = secrets.token_hex(8)
        answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answered
        message = json.dumps(
            {
                "op": "hang_up",
                "id": request_id,
                "call_id": call_id,
                "reason": reason,
                "reply_to": self._reply_channel,
            }
        )
        try:
            for _ in range(ATTEMPTS):
                try:
                    await self._redis.publish(CONTROL_CHANNEL, message)
                except (RedisError, OSError) as exc:
                    log.warning("call control: publish failed: %s", type(exc).__name__)
                try:
                    return await asyncio.wait_for(asyncio.shield(answered), REPLY_TIMEOUT_S)
                except TimeoutError:
                    continue
            return False
        finally:
            self._pending.pop(request_id, None)

    async def _listen(self) -> None:
        from redis.exceptions import RedisError

        failures = 0
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(CONTROL_CHANNEL, self._reply_channel)
                self._subscribed.set()
                failures = 0
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self._on_message(str(message["channel"]), str(message["data"]))
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                delay = _RECONNECT_S[min(failures, len(_RECONNECT_S) - 1)]
                failures += 1
                log.warning(
                    "call control: redis lost (%s); again in %.1fs", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _on_message(self, channel: str, data: str) -> None:
        from redis.exceptions import RedisError

        try:
            body: dict[str, Any] = json.loads(data)
            request_id = str(body["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("call control: malformed message ignored")
            return
        if channel == self._reply_channel:
            answered = self._pending.get(request_id)
            if answered is not None and not answered.done():
                answered.set_result(bool(body.get("hung_up")))
            return
        if body.get("op") != "hang_up":
            return
        call_id, reason = str(body.get("call_id")), str(body.get("reason"))
        if not await self._registry.hang_up(call_id, reason):
            return  # not here: the worker that holds it answers
        reply = json.dumps({"id": request_id, "hung_up": True})
        try:
            await self._redis.publish(str(body.get("reply_to")), reply)
        except (RedisError, OSError) as exc:  # the requester repeats; the end is idempotent
            log.warning("call control: reply failed: %s", type(exc).__name__)


def create_call_control(redis_url: str, registry: CallRegistry, node_id: str) -> CallControl:
    """Redis pub/sub when a URL is configured (several workers or nodes), else local."""
    if redis_url:
        return RedisCallControl.from_url(redis_url, registry, node_id)
    return LocalCallControl(registry)
