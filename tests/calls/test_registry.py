"""Admission control: the calls-per-worker cap and the event-loop watchdog (lag and busy)."""

from __future__ import annotations

import asyncio
import time

import pytest

from voxroute.calls.registry import AdmissionRefused, CallRegistry

PROBE_S = 0.1
WINDOW_S = 2.0


def registry(*, busy_limit: float = 0.7, max_calls: int = 10) -> CallRegistry:
    return CallRegistry(
        max_calls=max_calls,
        loop_lag_limit_ms=float("inf"),
        probe_interval_s=PROBE_S,
        loop_busy_limit=busy_limit,
        busy_window_s=WINDOW_S,
    )


def feed(reg: CallRegistry, start_wall: float, busy_shares: list[float]) -> None:
    """One sample per probe interval, each interval `share` busy."""
    wall = start_wall
    cpu = 0.0
    reg.observe_cpu(wall, cpu)
    for share in busy_shares:
        wall += PROBE_S
        cpu += PROBE_S * share
        reg.observe_cpu(wall, cpu)


def test_busy_share_is_cpu_time_over_wall_time_across_the_window() -> None:
    reg = registry()
    assert reg.loop_busy == 0.0  # nothing sampled yet: no refusal on start-up
    feed(reg, 100.0, [0.8] * 10)
    assert reg.loop_busy == pytest.approx(0.8)
    assert reg.refusal_reason() == "worker overloaded (event loop busy)"
    with pytest.raises(AdmissionRefused, match="event loop busy"):
        reg.admit("call-1")
    assert "call-1" not in reg


def test_a_loop_below_the_limit_admits() -> None:
    reg = registry()
    feed(reg, 100.0, [0.6] * 10)
    assert reg.loop_busy == pytest.approx(0.6)
    assert reg.refusal_reason() is None
    reg.admit("call-1")
    assert "call-1" in reg


def test_only_the_last_window_counts() -> None:
    """A busy spell that ended more than a window ago no longer refuses calls."""
    reg = registry()
    feed(reg, 100.0, [1.0] * 10 + [0.1] * round(WINDOW_S / PROBE_S))
    assert reg.loop_busy == pytest.approx(0.1)
    assert reg.refusal_reason() is None


def test_a_limit_of_one_never_refuses_on_busy() -> None:
    reg = registry(busy_limit=1.0)
    feed(reg, 100.0, [1.0] * 10)
    assert reg.refusal_reason() is None


def test_the_cap_refuses_before_anything_else() -> None:
    reg = registry(max_calls=1)
    reg.admit("call-1")
    assert reg.refusal_reason() == "worker at capacity"


async def test_the_watchdog_samples_the_cpu_clock_it_was_given() -> None:
    """Wired end to end: a CPU clock that runs with the wall clock reads as a loop busy all
    the time (refused); one that never moves reads as idle (admitted)."""
    always_busy = CallRegistry(
        max_calls=10,
        loop_lag_limit_ms=float("inf"),
        probe_interval_s=0.01,
        loop_busy_limit=0.7,
        cpu_clock=time.perf_counter,
    )
    idle = CallRegistry(
        max_calls=10,
        loop_lag_limit_ms=float("inf"),
        probe_interval_s=0.01,
        loop_busy_limit=0.7,
        cpu_clock=lambda: 0.0,
    )
    await always_busy.start()
    await idle.start()
    try:
        for _ in range(500):  # until each watchdog has taken two samples
            if len(always_busy._busy_samples) >= 2 and len(idle._busy_samples) >= 2:
                break
            await asyncio.sleep(0.01)
        assert always_busy.loop_busy > 0.7
        assert always_busy.refusal_reason() == "worker overloaded (event loop busy)"
        assert idle.loop_busy == 0.0 and idle.refusal_reason() is None
    finally:
        await always_busy.stop()
        await idle.stop()


def _with_calls(reg: CallRegistry, count: int) -> None:
    for index in range(count):
        reg.admit(f"call-{index}")


@pytest.mark.parametrize(
    ("cost_per_call", "admitted"),
    [(0.021, 33), (0.047, 14), (0.0033, 150)],  # a slow core, a very slow one, a fast one
)
def test_the_worker_admits_what_its_measured_cost_per_call_allows(
    cost_per_call: float, admitted: int
) -> None:
    """Each admitted call adds its cost to the loop; the next is refused once one more would
    take the loop past the limit, well before the ceiling on a slow core."""
    reg = registry(busy_limit=0.7, max_calls=150)
    count = 0
    while reg.refusal_reason() is None:
        reg.admit(f"call-{count}")
        count += 1
        feed(reg, 100.0 + count * 10, [cost_per_call * count] * 21)
    assert count == admitted
    ceiling = admitted == 150
    assert reg.refusal_reason() == (
        "worker at capacity" if ceiling else "worker at its measured capacity"
    )


def test_a_few_calls_are_never_refused_on_a_projection() -> None:
    reg = registry(busy_limit=0.7)
    _with_calls(reg, 3)
    feed(reg, 100.0, [0.6] * 21)  # busy, but below the limit, with three calls
    assert reg.projected_busy is None and reg.refusal_reason() is None
