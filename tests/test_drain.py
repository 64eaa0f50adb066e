"""The drain state and one worker's drain decisions (voxroute.drain, cli/_server.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from voxroute.cli._server import STREAM_ARRIVAL_S, DrainingServer
from voxroute.drain import Drain, DrainState


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_drain_moves_forward_only_and_expires_at_its_deadline() -> None:
    clock = Clock()
    drain = Drain(10.0, clock=clock)
    assert not drain.draining and drain.remaining_s is None and not drain.expired
    assert drain.begin() and not drain.begin()
    clock.now = 9.9
    assert drain.draining and not drain.expired
    clock.now = 10.0
    assert drain.expired and drain.remaining_s == 0.0
    assert drain.end_now() and not drain.end_now()
    assert drain.state is DrainState.ENDING
    drain.begin()
    assert drain.state is DrainState.ENDING


@dataclass
class FakeRegistry:
    live: set[str] = field(default_factory=set)
    hung_up: list[str] = field(default_factory=list)

    @property
    def active(self) -> int:
        return len(self.live)

    async def hang_up_all(self, reason: str) -> None:
        self.hung_up.append(reason)


def _server(drain: Drain, registry: FakeRegistry) -> tuple[DrainingServer, Any]:
    runtime = SimpleNamespace(drain=drain, registry=registry)
    server = DrainingServer.__new__(DrainingServer)  # no uvicorn config: the step only
    server._signals, server._grace_s = 1, 30.0
    server._drain_seen_at = server._ending_since = None
    return server, runtime


async def test_a_worker_with_live_calls_keeps_serving_until_the_deadline_then_ends_them(
    monkeypatch: Any,
) -> None:
    now = [100.0]
    monkeypatch.setattr("voxroute.cli._server.time.monotonic", lambda: now[0])
    drain = Drain(600.0, clock=lambda: now[0])
    registry = FakeRegistry(live={"call-1"})
    server, runtime = _server(drain, registry)
    assert not await server._drain_step(runtime)  # draining, the call goes on
    assert drain.state is DrainState.DRAINING and registry.hung_up == []
    now[0] += 599.0
    assert not await server._drain_step(runtime)
    now[0] += 1.0
    assert not await server._drain_step(runtime)  # deadline: goodbye to every call
    assert registry.hung_up == ["server_shutdown"] and drain.state is DrainState.ENDING
    registry.live.clear()
    assert await server._drain_step(runtime)  # the last call ended: exit
    assert registry.hung_up == ["server_shutdown"]


async def test_an_idle_worker_waits_for_answered_streams_then_exits(monkeypatch: Any) -> None:
    now = [0.0]
    monkeypatch.setattr("voxroute.cli._server.time.monotonic", lambda: now[0])
    server, runtime = _server(Drain(600.0, clock=lambda: now[0]), FakeRegistry())
    assert not await server._drain_step(runtime)
    now[0] += STREAM_ARRIVAL_S
    assert await server._drain_step(runtime)


async def test_a_second_signal_ends_the_calls_at_once() -> None:
    registry = FakeRegistry(live={"call-1"})
    server, runtime = _server(Drain(600.0), registry)
    assert not await server._drain_step(runtime)
    server._signals = 2
    assert not await server._drain_step(runtime)
    assert registry.hung_up == ["server_shutdown"]
