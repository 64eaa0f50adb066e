"""`RunningLoudness` reads what pipecat's BS.1770 volume reads: `min_volume` keeps its meaning."""

from __future__ import annotations

import numpy as np
import pytest
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.audio.volume import AudioVolumeTracker

from voxroute.calls.vad import RunningLoudness, SharedSileroVADAnalyzer

RATE = 8000
WINDOW = 256  # Silero's window at 8 kHz


def _signal(kind: str, amplitude: float, index: int) -> np.ndarray:
    t = (np.arange(WINDOW) + index * WINDOW) / RATE
    envelope = 1 + 0.5 * np.sin(index / 3)  # loudness varies from window to window
    if kind == "noise":
        raw = np.random.default_rng(index).standard_normal(WINDOW)
    else:
        raw = np.sin(2 * np.pi * float(kind) * t)
    return np.clip(amplitude * envelope * raw, -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("kind", ["noise", "300", "1000", "3000"])
@pytest.mark.parametrize("amplitude", [3.0, 30.0, 300.0, 3000.0, 20000.0])
def test_matches_pipecat_volume(kind: str, amplitude: float) -> None:
    pipecat = AudioVolumeTracker()
    running = RunningLoudness(RATE)
    for index in range(40):
        samples = _signal(kind, amplitude, index)
        pipecat.update(samples.tobytes(), RATE)
        ours = running.update(samples.astype(np.float32))
        if index * WINDOW < 0.4 * RATE - WINDOW:
            assert ours == 0.0  # like pipecat: 0 until 400 ms of audio
        elif index * WINDOW >= 0.4 * RATE:
            assert ours == pytest.approx(pipecat.volume, abs=0.005)


def test_silence_and_gate_read_zero() -> None:
    running = RunningLoudness(RATE)
    for _ in range(20):
        assert running.update(np.zeros(WINDOW, np.float32)) == 0.0
    for _ in range(20):
        quiet = running.update(np.full(WINDOW, 1.0, np.float32))  # far below −70 LUFS
    assert quiet == 0.0


def test_analyzer_volume_follows_pipecat_smoothing() -> None:
    analyzer = SharedSileroVADAnalyzer(sample_rate=RATE, params=VADParams())
    analyzer.set_sample_rate(RATE)
    tracker = AudioVolumeTracker()
    expected = 0.0
    for index in range(30):
        audio = _signal("1000", 3000.0, index).tobytes()
        tracker.update(audio, RATE)
        expected = expected + 0.2 * (tracker.volume - expected)
        analyzer._prev_volume = analyzer._get_smoothed_volume(audio)
    assert analyzer._prev_volume == pytest.approx(expected, abs=0.005)
    assert analyzer._prev_volume > analyzer.params.min_volume
