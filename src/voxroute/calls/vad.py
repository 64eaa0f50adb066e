"""Silero VAD with one ONNX session per process.

pipecat's `SileroVADAnalyzer` loads its own `InferenceSession` per instance (≈35 ms of
blocking work and ≈10 MB per call). The model's recurrent state is passed in and out on each
`run()`, not kept in the session, and onnxruntime allows concurrent `run()` calls on one
session, so every call shares one session and keeps only its own state arrays. Each analyzer
still has pipecat's single-thread executor (one idle thread per call), so calls never wait
on each other's inference.

Two per-frame costs are removed (measured with `voxroute loadtest` + py-spy, BENCHMARKS.md):

* pipecat hands every 20 ms frame to that executor (`run_in_executor`), although a model
  window is only complete every 32 ms and one inference takes ~0.1 ms: the hop (future,
  thread wake-up, GIL hand-over) cost more than the inference. Analysis runs inline.
* A window that is digitally near-silent cannot be speech: pipecat requires
  `volume >= min_volume` as well as model confidence, and a window below `SILENCE_DBFS`
  is far under any usable `min_volume`. Such windows score 0 without running the model, and
  the model's recurrent state is reset so the next speech starts from a clean state.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

__all__ = ["SILENCE_DBFS", "SharedSileroVADAnalyzer", "preload_vad"]

SILENCE_DBFS = -60.0
# Mean square of int16 samples at SILENCE_DBFS (RMS relative to full scale 32768).
_SILENCE_MEAN_SQUARE = (32768.0 * 10 ** (SILENCE_DBFS / 20)) ** 2

_lock = threading.Lock()
_session: Any = None


def _shared_session() -> Any:
    global _session
    with _lock:
        if _session is None:
            from importlib import resources

            path = str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))
            _session = SileroOnnxModel(path, force_onnx_cpu=True).session  # type: ignore[no-untyped-call]
        return _session


def preload_vad() -> None:
    """Load the model now (at worker start-up) instead of on the first call."""
    _shared_session()


class _SharedSessionModel(SileroOnnxModel):
    def __init__(self, session: Any) -> None:  # no super(): it would load another session
        self.session = session
        self.reset_states()  # type: ignore[no-untyped-call]
        self.sample_rates = [8000, 16000]


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None):
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        self._model = _SharedSessionModel(_shared_session())
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        self._silent = False

    async def analyze_audio(self, buffer: bytes) -> VADState:
        """Inline: cheaper than pipecat's executor hop for a 0.1 ms inference."""
        state: VADState = self._run_analyzer(buffer)
        return state

    def voice_confidence(self, buffer: bytes) -> float:
        samples = np.frombuffer(buffer, np.int16).astype(np.float32)
        if samples.size and float(np.dot(samples, samples)) / samples.size < _SILENCE_MEAN_SQUARE:
            if not self._silent:
                self._model.reset_states()  # type: ignore[no-untyped-call]
                self._silent = True
            return 0.0
        self._silent = False
        confidence: float = super().voice_confidence(buffer)
        return confidence
