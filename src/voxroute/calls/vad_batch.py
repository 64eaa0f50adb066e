"""Silero VAD for every call of a worker in one ONNX run per flush.

`SharedSileroVADAnalyzer` runs the model once per 32 ms window per call. One run costs
~160 µs of CPU for one row but ~40 µs per row for 50–100 rows (the model takes a batch
dimension: input [B, context + window], state [2, B, 128]; rows do not interact). The
per-window numpy work (silence gate, loudness FFT) batches the same way: one FFT over a
[B, 256] matrix costs ~1 µs per row against ~12 µs for one call each.

So each call's `VadStream` only cuts its audio into windows; the worker's one `VadBatcher`
collects the windows of all calls for up to `max_delay_s` and scores them together: the
model in its own thread (onnxruntime releases the GIL, the event loop keeps serving audio),
the rest on the loop. Decisions are those of `SharedSileroVADAnalyzer` fed the same audio
with the same `VADParams` — same windows, Silero context and recurrent state per call,
silence gate, pipecat's periodic model reset, loudness and smoothing, and pipecat's
start/stop counting — only later by up to `max_delay_s` plus one run.

A stream holds at most `max_pending_s` of unscored audio; beyond it the oldest windows are
dropped (`VadStream.dropped_windows`). Without that bound, audio fed faster than one window
per flush queued here without end (a media flood took a worker past 1 GB in 10 s).

`vad.preload_vad()` loads the session used here (the process-wide shared one).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from pipecat.audio.vad.silero import (
    _MODEL_RESET_INTERVAL_SECS,
    _MODEL_RESET_LOW_CONFIDENCE_WINDOWS,
    _MODEL_RESET_MAX_CONFIDENCE,
)
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from voxroute.calls.vad import SILENCE_MEAN_SQUARE, RunningLoudness, _shared_session

__all__ = ["VadBatcher", "VadListener", "VadStream"]

log = logging.getLogger(__name__)

Float32 = npt.NDArray[np.float32]

_VOLUME_SMOOTHING = 0.2  # pipecat's `VADAnalyzer._smoothing_factor`


class VadListener(Protocol):
    """Receives a `VadStream`'s speech state changes."""

    def on_vad_state(self, state: VADState) -> None:
        """Called on the loop thread on each change into SPEAKING or QUIET; must not block.

        Not into STARTING or STOPPING, matching pipecat's `VADController` speech started/stopped.
        """


class VadStream:
    """One call's audio in a `VadBatcher`: its model state, loudness and VAD state machine.

    Use it on the batcher's event loop thread only.
    """

    def __init__(self, batcher: VadBatcher, params: VADParams, listener: VadListener) -> None:
        self._batcher = batcher
        self._params = params
        self._listener = listener
        self._buffer = bytearray()
        # Complete windows not yet scored, each with whether it ends its `feed()` call:
        # pipecat promotes STARTING/STOPPING only once per `analyze_audio` call.
        self._pending: deque[tuple[bytes, bool]] = deque()
        self.dropped_windows = 0  # windows dropped at the bound (`max_pending_s`)
        self._queued = False  # waiting for a flush, or in the running one
        self._quota = 0  # windows the running flush still takes from this stream
        self._closed = False
        # Silero, as `SileroOnnxModel` + `SileroVADAnalyzer` + `SharedSileroVADAnalyzer`.
        self._model_state: Float32 = batcher._zero_state
        self._context: Float32 = batcher._zero_context
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        self._silent = False
        self._loudness = RunningLoudness(batcher._sample_rate)
        self._volume = 0.0
        # pipecat's `VADAnalyzer.set_params` and `_run_analyzer`.
        window_secs = batcher._window / batcher._sample_rate
        self._start_windows = round(params.start_secs / window_secs)
        self._stop_windows = round(params.stop_secs / window_secs)
        self._starting = 0
        self._stopping = 0
        self._state = VADState.QUIET
        self._reported = VADState.QUIET

    @property
    def state(self) -> VADState:
        """The analyzer state after the last scored window (may be STARTING or STOPPING)."""
        return self._state

    @property
    def params(self) -> VADParams:
        return self._params

    def feed(self, pcm16: bytes) -> None:
        """Append 16-bit mono PCM of any length; complete windows wait for the next flush."""
        if self._closed or self._batcher._closed:
            return
        buffer = self._buffer
        buffer += pcm16
        size = self._batcher._window_bytes
        count = len(buffer) // size
        if not count:
            return
        last = (count - 1) * size
        pending = self._pending
        limit = self._batcher._max_pending
        # Beyond the bound the oldest windows go: a stream never holds more than
        # `max_pending_s` of audio, however fast it is fed (the inbound guard keeps honest
        # callers far below it; a flood would otherwise queue here without end).
        first = max(0, count - limit) * size
        for start in range(first, last + 1, size):
            pending.append((bytes(buffer[start : start + size]), start == last))
        excess = len(pending) - limit
        if excess > 0:
            for _ in range(excess):
                pending.popleft()
        self.dropped_windows += first // size + max(0, excess)
        del buffer[: count * size]
        if not self._queued:
            self._batcher._enqueue(self)

    def close(self) -> None:
        """Drop pending audio; results of a run already under way are discarded."""
        self._closed = True
        self._pending.clear()
        self._buffer.clear()

    def _reset_model(self) -> None:
        self._model_state = self._batcher._zero_state
        self._context = self._batcher._zero_context

    def _scored(self, confidence: float) -> None:
        """`SileroVADAnalyzer._maybe_reset_model`: before `_decide` updates the state."""
        self._windows_since_reset += 1
        if confidence < _MODEL_RESET_MAX_CONFIDENCE:
            self._low_confidence_windows += 1
        else:
            self._low_confidence_windows = 0
        if (
            self._windows_since_reset * self._batcher._window
            >= _MODEL_RESET_INTERVAL_SECS * self._batcher._sample_rate
            and self._state == VADState.QUIET
            and self._low_confidence_windows >= _MODEL_RESET_LOW_CONFIDENCE_WINDOWS
        ):
            self._reset_model()
            self._windows_since_reset = 0

    def _decide(self, confidence: np.float32, energy: float, ends_feed: bool) -> None:
        """One window through pipecat's `_run_analyzer` (volume, counting, promotion).

        Every window of the stream passes here once, in order (tests and the benchmark wrap it
        to observe confidences).

        `confidence` stays float32: pipecat compares the model's float32 output with the
        threshold in float32.
        """
        volume = self._loudness.add_energy(energy, self._batcher._window)
        volume = self._volume + _VOLUME_SMOOTHING * (volume - self._volume)
        self._volume = volume
        params = self._params
        if confidence >= params.confidence and volume >= params.min_volume:
            if self._state == VADState.QUIET:
                self._state = VADState.STARTING
                self._starting = 1
            elif self._state == VADState.STARTING:
                self._starting += 1
            elif self._state == VADState.STOPPING:
                self._state = VADState.SPEAKING
                self._stopping = 0
        elif self._state == VADState.STARTING:
            self._state = VADState.QUIET
            self._starting = 0
        elif self._state == VADState.SPEAKING:
            self._state = VADState.STOPPING
            self._stopping = 1
        elif self._state == VADState.STOPPING:
            self._stopping += 1
        if not ends_feed:
            return
        if self._state == VADState.STARTING and self._starting >= self._start_windows:
            self._state = VADState.SPEAKING
            self._starting = 0
        if self._state == VADState.STOPPING and self._stopping >= self._stop_windows:
            self._state = VADState.QUIET
            self._stopping = 0
        if self._state != self._reported and self._state in (VADState.SPEAKING, VADState.QUIET):
            self._reported = self._state
            try:
                self._listener.on_vad_state(self._state)
            except Exception:
                log.exception("VAD listener failed")


class VadBatcher:
    """One per worker process: scores the pending windows of all its streams together.

    `open`, `VadStream.feed` and `VadStream.close` must be called on the loop that ran
    `start`; listeners are called on it. A failed ONNX run scores its windows 0 (as
    pipecat's analyzer does on an error) and is logged once until a run succeeds again.
    """

    def __init__(
        self, *, sample_rate: int = 8000, max_delay_s: float = 0.01, max_pending_s: float = 10.0
    ) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError(f"Silero VAD needs 8000 or 16000 Hz, not {sample_rate}")
        self._sample_rate = sample_rate
        self._max_delay_s = max_delay_s
        self._window = 512 if sample_rate == 16000 else 256  # `num_frames_required()`
        self._window_bytes = self._window * 2
        self._max_pending = max(1, math.ceil(max_pending_s * sample_rate / self._window))
        self._context_size = 64 if sample_rate == 16000 else 32  # `SileroOnnxModel.__call__`
        self._sr = np.array(sample_rate, dtype=np.int64)
        self._zero_state: Float32 = np.zeros((2, 128), np.float32)
        self._zero_context: Float32 = np.zeros(self._context_size, np.float32)
        self._weights = RunningLoudness(sample_rate).chunk_weights(self._window)
        self._session: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad-batch")
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._running: Future[tuple[Float32, Float32]] | None = None
        self._waiting: dict[VadStream, None] = {}  # streams with windows, by arrival
        self._first_waiting_at: float | None = None
        self._started = False
        self._closed = False
        self._failing = False

    async def start(self) -> None:
        """Load the model (in the batcher's thread) and start flushing."""
        if self._closed:
            raise RuntimeError("VadBatcher is closed")
        if self._started:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        self._session = await loop.run_in_executor(self._executor, _shared_session)
        self._task = asyncio.create_task(self._flush_forever(), name="vad-batch-flush")

    async def aclose(self) -> None:
        """Stop flushing and wait for a run under way; pending windows are dropped."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        running, self._running = self._running, None
        if running is not None:
            await asyncio.wait([asyncio.wrap_future(running)])
        self._executor.shutdown(wait=False)
        for stream in self._waiting:
            stream._queued = False
        self._waiting.clear()

    def open(self, params: VADParams, listener: VadListener) -> VadStream:
        if not self._started or self._closed:
            raise RuntimeError("VadBatcher is not running")
        return VadStream(self, params, listener)

    def _enqueue(self, stream: VadStream) -> None:
        stream._queued = True
        self._waiting[stream] = None
        if self._first_waiting_at is None:
            self._first_waiting_at = asyncio.get_running_loop().time()
            self._wake.set()

    async def _flush_forever(self) -> None:
        """Flush `max_delay_s` after a window starts waiting, so concurrent calls share runs.

        A flush takes the windows pending when it began, in rounds; streams whose windows
        have waited `max_delay_s` meanwhile join its next round, so a stream fed a long
        backlog at once does not hold the others up.
        """
        loop = asyncio.get_running_loop()
        batch: dict[VadStream, None] = {}
        while True:
            if not batch:
                await self._wake.wait()
                self._wake.clear()
                if self._first_waiting_at is None:
                    continue
                delay = self._first_waiting_at + self._max_delay_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self._admit(batch)
            elif (
                self._first_waiting_at is not None
                and self._first_waiting_at + self._max_delay_s <= loop.time()
            ):
                self._admit(batch)
            try:
                await self._round(batch)
            except Exception:  # a bug here must not stop every call's VAD
                log.exception("VAD flush failed; its windows are dropped")
                for stream in batch:
                    stream._pending.clear()
                    stream._queued = False
                batch.clear()

    def _admit(self, batch: dict[VadStream, None]) -> None:
        """Move the waiting streams into `batch`, each with the windows it has now."""
        for stream in self._waiting:
            stream._quota = len(stream._pending)
        batch.update(self._waiting)
        self._waiting = {}
        self._first_waiting_at = None

    async def _round(self, batch: dict[VadStream, None]) -> None:
        """Score the oldest pending window of each stream in `batch`.

        One row per stream: its next window needs this one's model state.

        A stream that has had the windows it was admitted with leaves `batch`; windows fed
        meanwhile wait for a later flush, so they are batched with other streams' again.
        """
        streams: list[VadStream] = []
        windows: list[bytes] = []
        ends_feed: list[bool] = []
        for stream in list(batch):
            if stream._closed or not stream._quota or not stream._pending:
                del batch[stream]
                stream._queued = False
                if stream._pending and not stream._closed:
                    self._enqueue(stream)
                continue
            stream._quota -= 1
            window, ends = stream._pending.popleft()
            streams.append(stream)
            windows.append(window)
            ends_feed.append(ends)
        if not streams:
            return
        count, size = len(streams), self._window
        pcm = np.frombuffer(b"".join(windows), np.int16).reshape(count, size)
        samples: Float32 = pcm.astype(np.float32)
        # float64 compare, as `SharedSileroVADAnalyzer` does with `float(np.dot(...))`.
        mean_squares = np.einsum("ij,ij->i", samples, samples).astype(np.float64) / size
        silent = (mean_squares < SILENCE_MEAN_SQUARE).tolist()
        spectrum = np.fft.rfft(samples, axis=1)
        power = spectrum.real * spectrum.real + spectrum.imag * spectrum.imag
        energies = (power @ self._weights).tolist()
        confidences: Float32 = np.zeros(count, np.float32)
        rows: list[int] = []
        for index, stream in enumerate(streams):
            if silent[index]:
                if not stream._silent:
                    stream._reset_model()
                    stream._silent = True
            else:
                stream._silent = False
                rows.append(index)
        if rows:
            await self._score(streams, rows, samples, confidences)
        for index, stream in enumerate(streams):
            if stream._closed:
                continue
            stream._decide(confidences[index], energies[index], ends_feed[index])

    async def _score(
        self, streams: list[VadStream], rows: list[int], samples: Float32, confidences: Float32
    ) -> None:
        """Run the model on `rows` (in the batcher's thread) and advance those streams' state.

        A failed run scores 0 and leaves the state, like pipecat's analyzer.
        """
        scored = [streams[index] for index in rows]
        x = np.concatenate(
            (np.stack([stream._context for stream in scored]), samples[rows] / 32768.0), axis=1
        )
        state = np.stack([stream._model_state for stream in scored], axis=1)
        self._running = self._executor.submit(self._run_model, x, state)
        try:
            output, new_state = await asyncio.wrap_future(self._running)
        except Exception:
            if not self._failing:
                self._failing = True
                log.exception("Silero batch run failed; its %d windows score 0", len(rows))
            return
        finally:
            if self._running is not None and self._running.done():
                self._running = None
        self._failing = False
        confidences[rows] = output[:, 0]
        for row, stream in enumerate(scored):
            if stream._closed:
                continue
            stream._model_state = new_state[:, row]
            stream._context = x[row, -self._context_size :]
            stream._scored(float(output[row, 0]))

    def _run_model(self, x: Float32, state: Float32) -> tuple[Float32, Float32]:
        """One ONNX run for a batch; runs in the batcher's thread."""
        output, new_state = self._session.run(None, {"input": x, "state": state, "sr": self._sr})
        return output, new_state
