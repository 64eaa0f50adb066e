"""The bound on what a caller's side may send into a call, for every carrier.

A media stream is a peer we do not control: a hostile tenant (or anyone holding a call's
stream URL and token) can send audio thousands of times faster than it plays. Everything
behind the socket is sized for real time (the VAD scores 32 ms windows, the STT takes
200 ms batches), so audio beyond real time either queues without bound or costs every
other call on the worker its CPU.

`InboundGuard` sits where media enters the call, before any conversion or queueing:

* **Audio** passes a token bucket counted in seconds of audio: `burst_s` of audio may
  arrive at once (network jitter, a carrier catching up after a stall); the bucket refills
  at real time (plus `DRIFT_ALLOWANCE`, so a sender whose clock runs a little fast never
  loses a frame). Audio beyond it is dropped and counted. The bucket opens when the stream
  did (`opened_at`): the audio sent while the call was set up, unread until then, arrives
  at once and is admitted in full.
* **Other messages** (marks, DTMF, anything malformed) pass a bucket of `events_per_s`
  with a burst of `EVENT_BURST_S` seconds' worth; beyond it they are dropped and counted.
* **Flooding**: dropped audio (in seconds) and dropped messages (in seconds' worth at the
  allowed rate) leak away at `flood_dropped_s / flood_window_s` per second; once either
  holds more than `flood_dropped_s`, the guard trips: everything after is dropped and the
  stream should be closed (`EndReason.MEDIA_FLOOD`). An honest sender drops nothing; one at
  twice real time trips within about `flood_window_s`; a flood within milliseconds.

The guard keeps a few floats per call, never the audio, and does no I/O: the carrier's
code asks it before decoding a frame (`admit_audio`) and closes the stream when `tripped`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voxroute.settings import Settings

__all__ = [
    "DRIFT_ALLOWANCE",
    "EVENT_BURST_S",
    "GuardLimits",
    "GuardStats",
    "InboundGuard",
]

DRIFT_ALLOWANCE = 0.01  # refill 1 % faster than real time: carrier clocks drift
EVENT_BURST_S = 2.0  # non-media messages: this many seconds' worth at once


@dataclass(frozen=True, slots=True)
class GuardLimits:
    """How far beyond real time a caller's side may send before it is dropped or closed."""

    burst_s: float = 2.0  # audio that may arrive at once beyond real time
    flood_dropped_s: float = 5.0  # dropped audio (net of the leak) that closes the stream
    flood_window_s: float = 10.0  # the leak: `flood_dropped_s` forgiven over this long
    events_per_s: float = 20.0  # non-media messages a second (DTMF, marks, malformed)

    @classmethod
    def from_settings(cls, settings: Settings) -> GuardLimits:
        return cls(
            burst_s=settings.inbound_audio_burst_s,
            flood_dropped_s=settings.inbound_flood_dropped_s,
            flood_window_s=settings.inbound_flood_window_s,
            events_per_s=settings.inbound_events_per_s,
        )

    def __post_init__(self) -> None:
        if min(self.burst_s, self.flood_dropped_s, self.flood_window_s, self.events_per_s) <= 0:
            raise ValueError("inbound guard limits must be positive")


@dataclass(slots=True)
class GuardStats:
    """What an `InboundGuard` admitted and dropped, and what, if anything, tripped it."""

    audio_admitted_s: float = 0.0
    audio_dropped_s: float = 0.0
    audio_dropped_frames: int = 0
    events_dropped: int = 0
    dropped_after_trip: int = 0  # messages of any kind while the stream was being closed
    tripped: str = ""  # "", "audio" or "events": what flooded

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "audio_admitted_s": round(self.audio_admitted_s, 3),
            "audio_dropped_s": round(self.audio_dropped_s, 3),
            "audio_dropped_frames": self.audio_dropped_frames,
            "events_dropped": self.events_dropped,
            "dropped_after_trip": self.dropped_after_trip,
            "tripped": self.tripped,
        }


class _Bucket:
    """A token bucket with a leaky count of what it refused."""

    __slots__ = ("_at", "_capacity", "_excess", "_leak", "_limit", "_opening", "_rate", "_tokens")

    def __init__(self, rate: float, capacity: float, limit: float, leak: float, now: float):
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity  # a stream may start with a burst (e.g. audio kept at set-up)
        self._limit = limit
        self._leak = leak
        self._excess = 0.0
        self._at = now
        self._opening = True

    def take(self, amount: float, now: float) -> bool:
        elapsed = max(0.0, now - self._at)
        self._at = max(self._at, now)
        refilled = self._tokens + elapsed * self._rate
        if self._opening:
            # What a real-time sender sent while the call was set up arrives at once when
            # it starts being read: the first take may use all of it.
            self._opening = False
            self._tokens = refilled
        else:  # above capacity only while the opening allowance lasts
            self._tokens = max(self._tokens, min(self._capacity, refilled))
        self._excess = max(0.0, self._excess - elapsed * self._leak)
        if amount <= self._tokens + 1e-9:  # sums of 20 ms frames are not exact
            self._tokens -= amount
            return True
        self._excess += amount
        return False

    @property
    def flooded(self) -> bool:
        return self._excess > self._limit


class InboundGuard:
    """One stream's bound on inbound audio and messages (see the module docstring)."""

    def __init__(
        self,
        limits: GuardLimits | None = None,
        *,
        on_trip: Callable[[InboundGuard], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        opened_at: float | None = None,
    ) -> None:
        self.limits = limits = limits or GuardLimits()
        self.stats = GuardStats()
        self._on_trip = on_trip
        self._clock = clock
        now = clock() if opened_at is None else opened_at
        leak = limits.flood_dropped_s / limits.flood_window_s
        self._audio = _Bucket(
            1.0 + DRIFT_ALLOWANCE, limits.burst_s, limits.flood_dropped_s, leak, now
        )
        # Events are weighed in seconds' worth at the allowed rate, so one flood rule
        # (`flood_dropped_s` net of the leak) applies to both.
        per_event = 1.0 / limits.events_per_s
        self._per_event = per_event
        self._events = _Bucket(1.0, EVENT_BURST_S, limits.flood_dropped_s, leak, now)

    @property
    def tripped(self) -> bool:
        return bool(self.stats.tripped)

    def drop_after_trip(self) -> None:
        """Count a message that arrived once the guard had tripped (not even parsed)."""
        self.stats.dropped_after_trip += 1

    def admit_audio(self, seconds: float) -> bool:
        """Whether `seconds` of audio that just arrived may enter the call."""
        if self.stats.tripped:
            self.stats.dropped_after_trip += 1
            return False
        if self._audio.take(seconds, self._clock()):
            self.stats.audio_admitted_s += seconds
            return True
        self.stats.audio_dropped_s += seconds
        self.stats.audio_dropped_frames += 1
        if self._audio.flooded:
            self._trip("audio")
        return False

    def admit_event(self) -> bool:
        """Whether a non-media message that just arrived may be handled."""
        if self.stats.tripped:
            self.stats.dropped_after_trip += 1
            return False
        if self._events.take(self._per_event, self._clock()):
            return True
        self.stats.events_dropped += 1
        if self._events.flooded:
            self._trip("events")
        return False

    def _trip(self, what: str) -> None:
        self.stats.tripped = what
        if self._on_trip is not None:
            self._on_trip(self)
