"""Silero VAD with one ONNX session per process.

Live calls use the worker's batched VAD (`vad_batch.VadBatcher`), which shares this
module's session, silence gate and `RunningLoudness`. `SharedSileroVADAnalyzer` stays as
the per-call reference it must match (tests/calls/test_vad_batch.py, bench/vad.py).

pipecat's `SileroVADAnalyzer` loads its own `InferenceSession` per instance (≈35 ms of
blocking work and ≈10 MB per call). The model's recurrent state is passed in and out on each
`run()`, not kept in the session, and onnxruntime allows concurrent `run()` calls on one
session, so every call shares one session and keeps only its own state arrays. Each analyzer
still has pipecat's single-thread executor (one idle thread per call), so calls never wait
on each other's inference.

Two per-frame costs are removed (measured with `voxroute loadtest` and py-spy):

* pipecat hands every 20 ms frame to that executor (`run_in_executor`), although a model
  window is only complete every 32 ms and one inference takes ~0.1 ms: the hop (future,
  thread wake-up, GIL hand-over) cost more than the inference. Analysis runs inline.
* A window that is digitally near-silent cannot be speech: pipecat requires
  `volume >= min_volume` as well as model confidence, and a window below `SILENCE_DBFS`
  is far under any usable `min_volume`. Such windows score 0 without running the model, and
  the model's recurrent state is reset so the next speech starts from a clean state.
* pipecat's volume is the BS.1770 loudness of the last 400 ms, re-measured from scratch
  (K-weighting filter + gating over 3,200 samples at 8 kHz) for every 32 ms window.
  `RunningLoudness` gives the same figure from a running sum: each window's K-weighted
  energy is computed once (its spectrum times the K-weighting filter's power response,
  by Parseval) and the last 400 ms of those energies are summed. Same scale (−110…−10
  LUFS → 0…1), same −70 LUFS absolute gate, same smoothing, so `min_volume` means what it
  meant.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

import numpy as np
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

__all__ = [
    "SILENCE_DBFS",
    "SILENCE_MEAN_SQUARE",
    "RunningLoudness",
    "SharedSileroVADAnalyzer",
    "preload_vad",
]

SILENCE_DBFS = -60.0
# Mean square of int16 samples at SILENCE_DBFS (RMS relative to full scale 32768).
SILENCE_MEAN_SQUARE = (32768.0 * 10 ** (SILENCE_DBFS / 20)) ** 2

# BS.1770 (as pipecat measures it): a 400 ms block, −0.691 dB offset, −70 LUFS absolute
# gate, and pipecat's normalisation of −110…−10 LUFS to 0…1.
LOUDNESS_WINDOW_SECS = 0.4
_LUFS_OFFSET = -0.691
_ABSOLUTE_GATE_LUFS = -70.0
_LUFS_MIN, _LUFS_MAX = -110.0, -10.0

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


def _k_weighting_power(freqs: np.ndarray, sample_rate: int) -> np.ndarray:
    """|H(f)|² of the BS.1770 K-weighting filter (shelf + high-pass) for `sample_rate`.

    Designed the way libebur128 does (bilinear transform of the analogue prototype).
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf_b = [
        (vh + vb * k / q + k * k) / a0,
        2 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
    ]
    shelf_a = [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1 + k / q + k * k
    hp_b = [1.0, -2.0, 1.0]
    hp_a = [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    z = np.exp(-2j * np.pi * freqs / sample_rate)  # z⁻¹ on the unit circle

    def response(b: list[float], a: list[float]) -> np.ndarray:
        num = b[0] + b[1] * z + b[2] * z * z
        den = a[0] + a[1] * z + a[2] * z * z
        result: np.ndarray = np.abs(num / den) ** 2
        return result

    power: np.ndarray = response(shelf_b, shelf_a) * response(hp_b, hp_a)
    return power


class RunningLoudness:
    """The VAD volume pipecat computes: BS.1770 loudness of the last 400 ms, normalised to 0…1.

    Kept as a running sum of per-chunk K-weighted energies instead of re-measured. Reads 0
    until 400 ms of audio have been seen, like pipecat's `AudioVolumeTracker`.
    """

    def __init__(self, sample_rate: int) -> None:
        self._sample_rate = sample_rate
        self._window = math.ceil(LOUDNESS_WINDOW_SECS * sample_rate)
        self._weights: dict[int, np.ndarray] = {}
        self._chunks: deque[tuple[float, int]] = deque()  # (K-weighted Σx², samples)
        self._energy = 0.0
        self._samples = 0

    def chunk_weights(self, n: int) -> np.ndarray:
        """Per-bin weights: `|rfft(chunk)|² · weights` summed is the chunk's K-weighted Σx²."""
        weights = self._weights.get(n)
        if weights is None:
            freqs = np.fft.rfftfreq(n, 1.0 / self._sample_rate)
            weights = _k_weighting_power(freqs, self._sample_rate) * 2.0
            weights[0] /= 2.0
            if n % 2 == 0:
                weights[-1] /= 2.0
            # Parseval: Σx² = (1/n)·Σ|X|² over the full spectrum; samples scaled to ±1.
            weights /= n * 32768.0 * 32768.0
            self._weights[n] = weights
        return weights

    def update(self, samples: np.ndarray) -> float:
        """Add a chunk of int16-valued samples; return the volume (0…1) of the last 400 ms."""
        n = int(samples.size)
        energy = 0.0
        if n:
            spectrum = np.fft.rfft(samples)
            power = spectrum.real * spectrum.real + spectrum.imag * spectrum.imag
            energy = float(np.dot(power, self.chunk_weights(n)))
        return self.add_energy(energy, n)

    def add_energy(self, energy: float, n: int) -> float:
        """`update` for a chunk of `n` samples whose K-weighted energy is already known.

        `VadBatcher` computes many chunks' energies in one FFT.
        """
        if n:
            self._chunks.append((energy, n))
            self._energy += energy
            self._samples += n
            while self._samples - self._chunks[0][1] >= self._window:
                old_energy, old_n = self._chunks.popleft()
                self._energy -= old_energy
                self._samples -= old_n
        if self._samples < self._window:
            return 0.0
        # The oldest chunk straddles the window's start: count only its share inside.
        old_energy, old_n = self._chunks[0]
        excess = self._samples - self._window
        energy = self._energy - old_energy * excess / old_n
        mean_square = max(energy, 0.0) / self._window
        if mean_square <= 0.0:
            return 0.0
        lufs = _LUFS_OFFSET + 10.0 * math.log10(mean_square)
        if lufs < _ABSOLUTE_GATE_LUFS:
            return 0.0
        return min(1.0, max(0.0, (lufs - _LUFS_MIN) / (_LUFS_MAX - _LUFS_MIN)))


class _SharedSessionModel(SileroOnnxModel):
    def __init__(self, session: Any) -> None:  # no super(): it would load another session
        self.session = session
        self.reset_states()  # type: ignore[no-untyped-call]
        self.sample_rates = [8000, 16000]


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    """A Silero analyzer for pipecat on the process's shared ONNX session, with its own state."""

    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None):
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        self._model = _SharedSessionModel(_shared_session())
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        self._silent = False
        self._loudness: RunningLoudness | None = None
        self._samples: np.ndarray | None = None  # the window `voice_confidence` just saw

    def _get_smoothed_volume(self, audio: bytes) -> float:
        """The smoothed volume pipecat expects, from a running loudness instead of a re-measure."""
        if self._loudness is None or self._loudness._sample_rate != self.sample_rate:
            self._loudness = RunningLoudness(self.sample_rate)
        samples = self._samples
        if samples is None or samples.size * 2 != len(audio):
            samples = np.frombuffer(audio, np.int16).astype(np.float32)
        self._samples = None
        volume = self._loudness.update(samples)
        smoothed: float = self._prev_volume + self._smoothing_factor * (volume - self._prev_volume)
        return smoothed

    async def analyze_audio(self, buffer: bytes) -> VADState:
        """Inline: cheaper than pipecat's executor hop for a 0.1 ms inference."""
        state: VADState = self._run_analyzer(buffer)
        return state

    def voice_confidence(self, buffer: bytes) -> float:
        samples = np.frombuffer(buffer, np.int16).astype(np.float32)
        self._samples = samples  # reused by `_get_smoothed_volume` for the same window
        if samples.size and float(np.dot(samples, samples)) / samples.size < SILENCE_MEAN_SQUARE:
            if not self._silent:
                self._model.reset_states()  # type: ignore[no-untyped-call]
                self._silent = True
            return 0.0
        self._silent = False
        confidence: float = super().voice_confidence(buffer)
        return confidence
