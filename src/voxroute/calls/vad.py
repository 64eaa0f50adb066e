"""Silero VAD with one ONNX session per process.

pipecat's `SileroVADAnalyzer` loads its own `InferenceSession` per instance (≈35 ms of
blocking work and ≈10 MB per call). The model's recurrent state is passed in and out on each
`run()`, not kept in the session, and onnxruntime allows concurrent `run()` calls on one
session, so every call shares one session and keeps only its own state arrays. Each analyzer
still has pipecat's single-thread executor (one idle thread per call), so calls never wait
on each other's inference.
"""

from __future__ import annotations

import threading
from typing import Any

from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams

__all__ = ["SharedSileroVADAnalyzer", "preload_vad"]

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
