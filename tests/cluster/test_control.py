"""A hang-up reaches the call on whichever worker holds it (Redis pub/sub between two
`RedisCallControl`s, as between two nodes), at least once, with an idempotent handler."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.calls.test_slots import redis_server  # noqa: F401 - the machine's Redis
from voxroute.calls.registry import CallRegistry
from voxroute.cluster.control import LocalCallControl, RedisCallControl


class Node:
    """One worker: its registry (with hang-up hooks that record) and its call control."""

    def __init__(self, redis_url: str, node_id: str, cls: type[RedisCallControl]) -> None:
        self.registry = CallRegistry(max_calls=10, loop_lag_limit_ms=float("inf"))
        self.control = cls.from_url(redis_url, self.registry, node_id)
        self.ended: list[tuple[str, str]] = []

    def hold(self, call_id: str) -> None:
        async def hang_up(reason: str) -> None:
            self.ended.append((call_id, reason))

        self.registry.admit(call_id, hang_up)


class LossyControl(RedisCallControl):
    """Loses the first request it receives, as pub/sub does across a reconnect."""

    lost = 0

    async def _on_message(self, channel: str, data: str) -> None:
        if '"op": "hang_up"' in data and not type(self).lost:
            type(self).lost += 1
            return
        await super()._on_message(channel, data)


@pytest.fixture
async def nodes(redis_server: str) -> AsyncIterator[tuple[Node, Node]]:  # noqa: F811
    a = Node(redis_server, "test-node-a", RedisCallControl)
    b = Node(redis_server, "test-node-b", LossyControl)
    LossyControl.lost = 0
    await a.control.start()
    await b.control.start()
    try:
        yield a, b
    finally:
        await a.control.aclose()
        await b.control.aclose()


async def test_a_hang_up_sent_to_a_node_reaches_the_call_on_another(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    b.hold("call-on-b")
    assert await a.control.hang_up("call-on-b", "hung_up_by_api")
    assert b.ended == [("call-on-b", "hung_up_by_api")]
    assert LossyControl.lost == 1  # the first request was lost and repeated
    assert a.ended == []


async def test_a_hang_up_twice_is_answered_both_times_and_a_call_nowhere_is_not(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    b.hold("call-on-b")
    assert await a.control.hang_up("call-on-b", "hung_up_by_api")
    assert await a.control.hang_up("call-on-b", "hung_up_by_api")  # idempotent at the call
    assert await b.control.hang_up("call-on-b", "hung_up_by_api")  # the local path
    assert not await a.control.hang_up("call-nowhere", "hung_up_by_api")


async def test_without_redis_the_hang_up_is_local() -> None:
    registry = CallRegistry(max_calls=10, loop_lag_limit_ms=float("inf"))
    ended: list[str] = []

    async def hang_up(reason: str) -> None:
        ended.append(reason)

    registry.admit("call", hang_up)
    control = LocalCallControl(registry)
    assert await control.hang_up("call", "hung_up_by_api") and ended == ["hung_up_by_api"]
    assert not await control.hang_up("other", "hung_up_by_api")
