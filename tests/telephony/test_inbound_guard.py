"""The inbound guard on a fake clock: bursts pass, sustained excess is dropped and counted,
a flood trips it, and honest real-time audio is never dropped, however jittery."""

from __future__ import annotations

import random

import pytest

from voxroute.telephony.inbound_guard import GuardLimits, InboundGuard

FRAME_S = 0.02  # Twilio's frames


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def guard_on(clock: Clock, **limits: float) -> tuple[InboundGuard, list[InboundGuard]]:
    trips: list[InboundGuard] = []
    guard = InboundGuard(GuardLimits(**limits), on_trip=trips.append, clock=clock)
    return guard, trips


def test_a_burst_up_to_the_allowance_passes_and_the_next_frame_is_dropped() -> None:
    clock = Clock()
    guard, trips = guard_on(clock, burst_s=1.0)
    assert all(guard.admit_audio(FRAME_S) for _ in range(50))  # 1 s at once
    assert not guard.admit_audio(FRAME_S)
    assert guard.stats.audio_dropped_frames == 1
    assert guard.stats.audio_dropped_s == pytest.approx(FRAME_S)
    assert not trips and not guard.tripped
    clock.now += 0.1  # refilled at real time: 100 ms of audio later, 5 frames more
    assert sum(guard.admit_audio(FRAME_S) for _ in range(10)) == 5


def test_sustained_excess_is_dropped_counted_and_finally_trips() -> None:
    clock = Clock()
    guard, trips = guard_on(clock, burst_s=1.0, flood_dropped_s=5.0, flood_window_s=10.0)
    sent = 0.0
    while not guard.tripped and clock.now < 60:
        guard.admit_audio(FRAME_S)  # three frames every 20 ms: 3x real time
        guard.admit_audio(FRAME_S)
        guard.admit_audio(FRAME_S)
        sent += 3 * FRAME_S
        clock.now += FRAME_S
    stats = guard.stats
    assert guard.tripped and trips == [guard] and stats.tripped == "audio"
    # Until it tripped, only real time (plus 1 % drift allowance) and the burst got in.
    assert stats.audio_admitted_s <= clock.now * 1.01 + 1.0 + FRAME_S
    assert stats.audio_admitted_s + stats.audio_dropped_s == pytest.approx(sent)
    # 2 s dropped a second, 0.5 s forgiven: more than 5 s net after about 3.5 s.
    assert 3.0 < clock.now < 4.0
    # Tripped: nothing more gets in, even at real time.
    clock.now += 5.0
    assert not guard.admit_audio(FRAME_S)
    assert not guard.admit_event()
    assert stats.dropped_after_trip == 2


def test_a_slight_excess_is_dropped_but_forgiven() -> None:
    """1.2x real time loses its excess, but its drops leak away faster than they come."""
    clock = Clock()
    guard, trips = guard_on(clock, burst_s=1.0, flood_dropped_s=5.0, flood_window_s=10.0)
    for index in range(60 * 60):  # a minute of 100 ms steps, 120 ms of audio each
        guard.admit_audio(0.06)
        guard.admit_audio(0.06)
        clock.now = (index + 1) * 0.1
    assert guard.stats.audio_dropped_s > 0
    assert not trips


def test_a_flood_of_maximum_frames_trips_at_once() -> None:
    clock = Clock()
    guard, trips = guard_on(clock)
    admitted = sum(guard.admit_audio(1.0) for _ in range(10_000))  # 1 s frames, no time passes
    assert admitted == 2  # the default burst
    assert trips == [guard]
    assert guard.stats.audio_dropped_frames == 6  # 6 s dropped > 5 s: tripped
    assert guard.stats.dropped_after_trip == 10_000 - 8


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_real_time_audio_is_never_dropped_however_jittery(seed: int) -> None:
    """Ten minutes of 20 ms frames, each delayed 0-900 ms (in order, so frames bunch up
    behind a late one, as after a network stall): nothing is dropped."""
    rng = random.Random(seed)
    clock = Clock()
    guard, trips = guard_on(clock, burst_s=1.0)
    arrival = 0.0
    for index in range(10 * 60 * 50):
        sent_at = index * FRAME_S
        delay = rng.choice((0.0, 0.0, 0.0, rng.uniform(0, 0.05), rng.uniform(0, 0.9)))
        arrival = max(arrival, sent_at + delay)
        clock.now = arrival
        assert guard.admit_audio(FRAME_S), f"frame {index} dropped"
    assert guard.stats.audio_dropped_s == 0 and not trips


def test_a_sender_whose_clock_runs_fast_is_not_dropped() -> None:
    clock = Clock()
    guard, _ = guard_on(clock, burst_s=1.0)
    for index in range(30 * 60 * 50):  # half an hour, 0.5 % fast
        clock.now = index * FRAME_S / 1.005
        assert guard.admit_audio(FRAME_S)


def test_audio_sent_while_the_call_was_set_up_is_admitted_at_once() -> None:
    """The stream opened at 0; nobody read it until the pipeline started at 4 s: the 4 s
    a real-time sender sent meanwhile arrive together and all get in."""
    clock = Clock(4.0)
    trips: list[InboundGuard] = []
    guard = InboundGuard(GuardLimits(burst_s=1.0), on_trip=trips.append, clock=clock, opened_at=0)
    assert all(guard.admit_audio(FRAME_S) for _ in range(200))
    for index in range(1, 500):  # then real time as usual
        clock.now = 4.0 + index * FRAME_S
        assert guard.admit_audio(FRAME_S)
    assert not trips


def test_messages_pass_at_their_rate_and_a_message_flood_trips() -> None:
    clock = Clock()
    guard, trips = guard_on(clock, events_per_s=20.0)
    for index in range(20 * 30):  # 30 s of 20 DTMF digits a second
        clock.now = index / 20
        assert guard.admit_event()
    assert not trips
    dropped = 0
    while not guard.tripped:
        dropped += not guard.admit_event()
    assert guard.stats.tripped == "events" and trips == [guard]
    assert guard.stats.events_dropped == dropped
    assert guard.admit_audio(FRAME_S) is False  # the whole stream is closed


@pytest.mark.parametrize("field", ["burst_s", "flood_dropped_s", "flood_window_s", "events_per_s"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match="positive"):
        GuardLimits(**{field: 0})
