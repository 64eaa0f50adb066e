"""Energy-based utterance detection on the audio clock, for the STT emulators.

Time is measured in samples received, not wall-clock time, so results are deterministic
whatever the pace at which a client streams audio (real time, or as fast as it can).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._audio import Samples

__all__ = ["Segment", "UtteranceDetector", "VadEvent"]

FRAME_MS = 10
VOICED_RMS = 300.0  # about -40 dBFS; the test clips sit around 1,000–5,000 RMS
START_FRAMES = 2  # 20 ms of voiced audio opens an utterance
INTERIM_EVERY_S = 0.5


@dataclass
class Segment:
    """An utterance: start, end of the last voiced frame, and the end of audio seen so far."""

    start: float
    last_voiced: float
    now: float


@dataclass(frozen=True)
class VadEvent:
    """``started``, ``interim`` (speech continues), ``ended`` (endpoint reached) or ``gap``."""

    kind: str
    segment: Segment


class UtteranceDetector:
    """Turn a stream of samples into utterance start / interim / end events."""

    def __init__(self, sample_rate: int, endpointing_ms: int, utterance_end_ms: int | None) -> None:
        self._frame = max(1, sample_rate * FRAME_MS // 1000)
        self._rate = sample_rate
        self._endpoint_s = endpointing_ms / 1000.0
        self._utterance_end_s = utterance_end_ms / 1000.0 if utterance_end_ms else None
        self._pending = np.zeros(0, dtype=np.int16)
        self._samples = 0
        self._run = 0
        self._segment: Segment | None = None
        self._last_interim = 0.0
        self._last_word_end: float | None = None

    @property
    def elapsed(self) -> float:
        """Seconds of audio consumed so far."""
        return self._samples / self._rate

    @property
    def active(self) -> Segment | None:
        """The utterance in progress, if any."""
        return self._segment

    def feed(self, samples: Samples) -> list[VadEvent]:
        """Consume samples; return the events they caused, in order."""
        pending = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        count = len(pending) // self._frame
        used = count * self._frame
        self._pending = pending[used:].copy()
        events: list[VadEvent] = []
        if not count:
            return events
        # The RMS of every whole frame of the chunk at once: numpy per frame cost more than
        # the rest of a session. Sums of squares are exact in float64, as they were per frame,
        # and add.reduce / n is what np.mean computes, without its Python-level wrapper.
        frames = pending[:used].reshape(count, self._frame)
        squares = np.multiply(frames, frames, dtype=np.float64)
        rms = np.sqrt(np.add.reduce(squares, axis=1) / self._frame)
        for voiced in (rms >= VOICED_RMS).tolist():
            start = self.elapsed
            self._samples += self._frame
            events.extend(self._step(voiced, start))
        return events

    def _step(self, voiced: bool, frame_start: float) -> list[VadEvent]:
        now = self.elapsed
        seg = self._segment
        if seg is None:
            self._run = self._run + 1 if voiced else 0
            if self._run >= START_FRAMES:
                start = frame_start - (START_FRAMES - 1) * FRAME_MS / 1000.0
                self._segment = Segment(start=round(start, 3), last_voiced=now, now=now)
                self._last_interim = now
                self._run = 0
                return [VadEvent("started", self._segment)]
            if (
                self._utterance_end_s is not None
                and self._last_word_end is not None
                and now - self._last_word_end >= self._utterance_end_s
            ):
                gap = Segment(start=self._last_word_end, last_voiced=self._last_word_end, now=now)
                self._last_word_end = None
                return [VadEvent("gap", gap)]
            return []
        seg.now = now
        if voiced:
            seg.last_voiced = now
        if now - seg.last_voiced >= self._endpoint_s:
            return [VadEvent("ended", self.close())]
        if voiced and now - self._last_interim >= INTERIM_EVERY_S:
            self._last_interim = now
            return [VadEvent("interim", seg)]
        return []

    def close(self) -> Segment:
        """End the utterance in progress (endpoint, Finalize or CloseStream) and return it."""
        seg = self._segment
        if seg is None:
            raise RuntimeError("no utterance in progress")
        self._segment = None
        self._last_word_end = seg.last_voiced
        return seg
