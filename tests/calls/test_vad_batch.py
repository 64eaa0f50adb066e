"""`VadBatcher` decides what `SharedSileroVADAnalyzer` decides, for many calls in one run."""

from __future__ import annotations

import asyncio
import logging
import threading
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from voxroute.calls.vad import SILENCE_MEAN_SQUARE, SharedSileroVADAnalyzer
from voxroute.calls.vad_batch import VadBatcher, VadStream
from voxroute.softphone.audio import load_ulaw, ulaw_to_pcm16

AUDIO = Path(__file__).parents[1] / "data" / "audio"
RATE = 8000
WINDOW_BYTES = 512  # Silero's 256-sample window at 8 kHz
CHUNK = 320  # 20 ms
Int16 = np.ndarray


def clip(number: int) -> Int16:
    return ulaw_to_pcm16(load_ulaw(AUDIO / f"utterance-0{number}.ulaw8k.wav"))


def noise(seconds: float, dbfs: float, seed: int) -> Int16:
    """Steady noise above the silence gate: the model runs, pipecat's periodic reset fires."""
    raw = np.random.default_rng(seed).standard_normal(int(seconds * RATE))
    return (raw * 32768 * 10 ** (dbfs / 20)).astype(np.int16)


def silence(seconds: float) -> Int16:
    return np.zeros(int(seconds * RATE), np.int16)


def call_audio(number: int) -> bytes:
    """Noise, speech, digital silence, more speech, noise: every path of the analyzer."""
    parts = [
        noise(2.5, -45, number),
        clip(number),
        silence(1.0),
        clip(number % 4 + 1),
        noise(3.0, -45, number + 10),
    ]
    return np.concatenate(parts).tobytes()


def chunks(pcm: bytes, size: int = CHUNK) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


Events = list[tuple[int, VADState]]  # (windows scored so far, state reported)


def sequential(
    pcm: bytes, params: VADParams, size: int = CHUNK, rate: int = RATE
) -> tuple[Events, list[float]]:
    """pipecat's VAD controller over `SharedSileroVADAnalyzer`, chunk by chunk."""
    analyzer = SharedSileroVADAnalyzer(sample_rate=rate, params=params)
    analyzer.set_sample_rate(rate)
    confidences: list[float] = []
    score = analyzer.voice_confidence

    def recording(buffer: bytes) -> float:
        confidence = score(buffer)
        confidences.append(float(np.squeeze(confidence)))
        return confidence

    analyzer.voice_confidence = recording  # type: ignore[method-assign]
    events: Events = []
    reported = VADState.QUIET
    for chunk in chunks(pcm, size):
        state = analyzer._run_analyzer(chunk)
        if state != reported and state in (VADState.SPEAKING, VADState.QUIET):
            events.append((len(confidences), state))
            reported = state
    return events, confidences


class Watched:
    """A stream's listener, plus the confidence of each window it scores (wrapping the
    stream's per-window step) and an event once `expected` windows are scored."""

    def __init__(self, expected: int = 0) -> None:
        self.events: Events = []
        self.confidences: list[float] = []
        self.expected = expected
        self.done = asyncio.Event()
        self.listener_error: Exception | None = None
        self.order: list[Watched] | None = None  # shared: which stream scored each window

    def on_vad_state(self, state: VADState) -> None:
        self.events.append((len(self.confidences), state))
        if self.listener_error is not None:
            error, self.listener_error = self.listener_error, None
            raise error

    def attach(self, stream: VadStream) -> VadStream:
        decide = stream._decide

        def recording(confidence: np.float32, energy: float, ends_feed: bool) -> None:
            self.confidences.append(float(confidence))
            if self.order is not None:
                self.order.append(self)
            decide(confidence, energy, ends_feed)
            if len(self.confidences) == self.expected:
                self.done.set()

        stream._decide = recording  # type: ignore[method-assign]
        return stream


async def scored(*watched: Watched) -> None:
    for one in watched:
        await asyncio.wait_for(one.done.wait(), 60)  # a hang guard, not a timing bound


class Recording(VadBatcher):
    """Records the rows of each ONNX run; can fail runs or hold one until released."""

    def __init__(
        self,
        *,
        fail_runs: int = 0,
        hold_run: int | None = None,
        max_delay_s: float = 0.01,
        sample_rate: int = RATE,
    ) -> None:
        super().__init__(sample_rate=sample_rate, max_delay_s=max_delay_s)
        self.rows: list[int] = []
        self.fail_runs = fail_runs
        self.hold_run = hold_run
        self.held = threading.Event()
        self.release = threading.Event()

    def _run_model(self, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.rows.append(x.shape[0])
        if len(self.rows) == self.hold_run:
            self.held.set()
            self.release.wait(60)
        if len(self.rows) <= self.fail_runs:
            raise RuntimeError("injected")
        return super()._run_model(x, state)


@pytest.fixture
async def batcher() -> AsyncIterator[Recording]:
    batcher = Recording()
    await batcher.start()
    yield batcher
    await batcher.aclose()


def windows_in(pcm: bytes) -> int:
    return len(pcm) // WINDOW_BYTES


async def test_interleaved_streams_match_the_sequential_analyzer(batcher: Recording) -> None:
    params = VADParams(stop_secs=0.5)
    audios = [call_audio(number) for number in (1, 2, 3, 4)]
    sizes = [CHUNK, CHUNK, CHUNK, 1000]  # 1000 bytes: several windows per feed, or none
    watched = [Watched(windows_in(pcm)) for pcm in audios]
    streams = [one.attach(batcher.open(params, one)) for one in watched]
    feeds = [chunks(pcm, size) for pcm, size in zip(audios, sizes, strict=True)]
    for step in range(max(len(f) for f in feeds)):
        for stream, fed in zip(streams, feeds, strict=True):
            if step < len(fed):
                stream.feed(fed[step])
        if step % 3 == 0:  # sometimes one window per stream is pending, sometimes several
            await asyncio.sleep(0.002)
    await scored(*watched)

    assert max(batcher.rows) > 1  # streams did share runs
    for one, pcm, size in zip(watched, audios, sizes, strict=True):
        events, confidences = sequential(pcm, params, size)
        assert [state for _, state in events] == [VADState.SPEAKING, VADState.QUIET] * 2
        assert one.events == events
        assert one.confidences == pytest.approx(confidences, abs=1e-4)


async def test_16khz_streams_match_the_sequential_analyzer() -> None:
    batcher = Recording(sample_rate=16000)
    await batcher.start()
    try:
        audios = []
        for number in (1, 3):
            with wave.open(str(AUDIO / f"utterance-0{number}.pcm16k.wav"), "rb") as wav:
                assert wav.getframerate() == 16000
                audios.append(wav.readframes(wav.getnframes()) + bytes(2 * 16000))
        watched = [Watched(len(pcm) // 1024) for pcm in audios]
        streams = [one.attach(batcher.open(VADParams(), one)) for one in watched]
        for step in range(max(len(pcm) for pcm in audios) // 640 + 1):
            for stream, pcm in zip(streams, audios, strict=True):
                stream.feed(pcm[step * 640 : (step + 1) * 640])
        await scored(*watched)
    finally:
        await batcher.aclose()
    for one, pcm in zip(watched, audios, strict=True):
        events, confidences = sequential(pcm, VADParams(), 640, rate=16000)
        assert events
        assert one.events == events
        assert one.confidences == pytest.approx(confidences, abs=1e-4)


async def test_a_stream_has_one_row_per_run(batcher: Recording) -> None:
    speech = clip(2).tobytes()
    alone = Watched(windows_in(speech))
    alone.attach(batcher.open(VADParams(), alone)).feed(speech)  # every window at once
    await scored(alone)
    assert batcher.rows
    assert set(batcher.rows) == {1}  # successive rounds, never two rows of one stream

    batcher.rows.clear()
    together = [Watched(1) for _ in range(8)]
    for one in together:  # all pending before the flush: one run
        one.attach(batcher.open(VADParams(), one)).feed(speech[16000 : 16000 + WINDOW_BYTES])
    await scored(*together)
    assert batcher.rows == [8]


async def test_silence_never_runs_the_model(batcher: Recording) -> None:
    quiet_noise = noise(3.0, -75, 7).tobytes()  # below the −60 dBFS gate
    speech = np.concatenate([silence(1.0), clip(1), silence(1.5)]).tobytes()
    silent = [Watched(windows_in(pcm)) for pcm in (silence(3.0).tobytes(), quiet_noise)]
    talker = Watched(windows_in(speech))
    streams = [one.attach(batcher.open(VADParams(), one)) for one in [*silent, talker]]
    for step, chunk in enumerate(chunks(silence(3.0).tobytes())):
        streams[0].feed(chunk)
        streams[1].feed(quiet_noise[step * CHUNK : (step + 1) * CHUNK])
    await scored(*silent)
    assert batcher.rows == []
    for one in silent:
        assert one.events == []
        assert set(one.confidences) == {0.0}

    for chunk in chunks(speech):
        streams[2].feed(chunk)
    await scored(talker)
    samples = np.frombuffer(speech, np.int16)[: windows_in(speech) * 256].astype(np.float32)
    loud = int(np.sum(np.mean(samples.reshape(-1, 256) ** 2, axis=1) >= SILENCE_MEAN_SQUARE))
    assert 0 < sum(batcher.rows) == loud  # exactly the windows above the gate
    assert talker.events == sequential(speech, VADParams())[0]
    assert talker.events[0][1] == VADState.SPEAKING
    assert talker.events[-1][1] == VADState.QUIET


async def test_streams_follow_their_own_params(batcher: Recording) -> None:
    speech = np.concatenate([silence(0.5), clip(3), silence(2.0)]).tobytes()
    params = [
        VADParams(),
        VADParams(start_secs=0.5, stop_secs=1.2),
        VADParams(min_volume=1.0),  # −10 LUFS: louder than any telephone speech
    ]
    watched = [Watched(windows_in(speech)) for _ in params]
    streams = [one.attach(batcher.open(p, one)) for p, one in zip(params, watched, strict=True)]
    for chunk in chunks(speech):
        for stream in streams:
            stream.feed(chunk)
    await scored(*watched)
    for p, one, stream in zip(params, watched, streams, strict=True):
        assert stream.params is p
        assert one.events == sequential(speech, p)[0]
    assert watched[0].events and watched[1].events
    assert watched[0].events[0][0] < watched[1].events[0][0]  # starts later
    assert watched[0].events[-1][0] < watched[1].events[-1][0]  # stops later
    assert watched[2].events == []
    assert streams[0].state == VADState.QUIET


async def test_a_backlog_does_not_hold_other_streams_up() -> None:
    batcher = Recording(hold_run=2)
    await batcher.start()
    try:
        backlog = np.concatenate([clip(1), clip(2)]).tobytes()
        order: list[Watched] = []
        hog, other = Watched(windows_in(backlog)), Watched(1)
        hog.order = other.order = order
        hog.attach(batcher.open(VADParams(), hog)).feed(backlog)  # seconds of audio at once
        await asyncio.to_thread(batcher.held.wait, 60)
        before = len(order)
        other.attach(batcher.open(VADParams(), other)).feed(backlog[16000 : 16000 + 512])
        await asyncio.sleep(5 * batcher._max_delay_s)  # its window is due by the release
        batcher.release.set()
        await scored(hog, other)
    finally:
        batcher.release.set()
        await batcher.aclose()
    # The held window, then the next round: the hog's next window and the other's.
    assert order[before : before + 3] == [hog, hog, other]
    assert len(order) == windows_in(backlog) + 1


async def test_windows_fed_during_a_run_wait_to_be_batched() -> None:
    batcher = Recording(hold_run=1, max_delay_s=0.5)
    await batcher.start()
    try:
        speech = clip(2).tobytes()[16000 : 16000 + 2 * WINDOW_BYTES]
        first, second = Watched(2), Watched(1)
        running = first.attach(batcher.open(VADParams(), first))
        running.feed(speech[:WINDOW_BYTES])
        await asyncio.to_thread(batcher.held.wait, 60)
        running.feed(speech[WINDOW_BYTES:])  # its stream is in the run under way
        second.attach(batcher.open(VADParams(), second)).feed(speech[:WINDOW_BYTES])
        batcher.release.set()
        await scored(first, second)
    finally:
        batcher.release.set()
        await batcher.aclose()
    assert batcher.rows == [1, 2]  # not [1, 1, 1]: the new window waited for the other's


async def test_close_during_a_run_discards_its_result() -> None:
    batcher = Recording(hold_run=1)
    await batcher.start()
    try:
        speech = clip(1).tobytes()
        closing = Watched()
        stream = closing.attach(batcher.open(VADParams(), closing))
        stream.feed(speech)  # the first run holds; the stream's other windows wait
        await asyncio.to_thread(batcher.held.wait, 60)
        decided = len(closing.confidences)
        stream.close()
        stream.close()  # idempotent
        stream.feed(speech)  # ignored once closed
        batcher.release.set()
        later = Watched(windows_in(speech))
        later_stream = later.attach(batcher.open(VADParams(), later))
        for chunk in chunks(speech):
            later_stream.feed(chunk)
        await scored(later)  # flushes run in order: the held run's result came back first
        assert len(closing.confidences) == decided
        assert closing.events == []
        assert later.events == sequential(speech, VADParams())[0]
        assert batcher.rows[0] == 1
        assert set(batcher.rows[1:]) == {1}  # only `later` ran after the close
    finally:
        batcher.release.set()
        await batcher.aclose()


async def test_aclose_waits_for_the_run_and_drops_the_rest() -> None:
    batcher = Recording(hold_run=1)
    await batcher.start()
    try:
        speech = clip(1).tobytes()
        one = Watched()
        stream = one.attach(batcher.open(VADParams(), one))
        stream.feed(speech)
        await asyncio.to_thread(batcher.held.wait, 60)
        decided = len(one.confidences)
        closing = asyncio.create_task(batcher.aclose())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not closing.done()  # the run is still in the batcher's thread
        batcher.release.set()
        await closing
    finally:
        batcher.release.set()
        await batcher.aclose()  # idempotent
    assert len(one.confidences) == decided  # neither the held run nor the rest applied
    assert one.events == []
    assert batcher.rows == [1]
    stream.feed(speech)  # after aclose: dropped
    with pytest.raises(RuntimeError):
        batcher.open(VADParams(), one)
    with pytest.raises(RuntimeError):
        await batcher.start()


async def test_aclose_before_a_flush_is_clean() -> None:
    batcher = Recording()
    with pytest.raises(RuntimeError):
        batcher.open(VADParams(), Watched())  # not started
    await batcher.start()
    await batcher.start()  # idempotent
    watched = [Watched() for _ in range(5)]
    for one in watched:
        one.attach(batcher.open(VADParams(), one)).feed(clip(2).tobytes())
    await batcher.aclose()
    assert batcher.rows == []
    assert all(one.confidences == [] for one in watched)


async def test_a_failing_run_scores_zero_and_the_batcher_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    batcher = Recording(fail_runs=3)
    await batcher.start()
    try:
        speech = np.concatenate([clip(2), silence(1.5)]).tobytes()
        one = Watched(windows_in(speech))
        stream = one.attach(batcher.open(VADParams(), one))
        with caplog.at_level(logging.ERROR, logger="voxroute.calls.vad_batch"):
            for chunk in chunks(speech):
                stream.feed(chunk)
            await scored(one)
    finally:
        await batcher.aclose()
    assert len(batcher.rows) > 3
    errors = [r for r in caplog.records if r.name == "voxroute.calls.vad_batch"]
    assert len(errors) == 1  # once, not per failed run or window
    _, expected = sequential(speech, VADParams())
    model_windows = [i for i, c in enumerate(expected) if c > 0.0]
    failed = model_windows[:3]
    assert [one.confidences[i] for i in failed] == [0.0, 0.0, 0.0]
    assert max(expected[i] for i in failed) > 0.0  # those windows did score without failure
    assert one.events[0][1] == VADState.SPEAKING
    assert one.events[-1][1] == VADState.QUIET


async def test_a_failing_listener_does_not_stop_the_stream(
    batcher: Recording, caplog: pytest.LogCaptureFixture
) -> None:
    speech = np.concatenate([clip(4), silence(1.5)]).tobytes()
    one = Watched(windows_in(speech))
    one.listener_error = RuntimeError("listener")
    stream = one.attach(batcher.open(VADParams(), one))
    with caplog.at_level(logging.ERROR, logger="voxroute.calls.vad_batch"):
        for chunk in chunks(speech):
            stream.feed(chunk)
        await scored(one)
    assert one.events == sequential(speech, VADParams())[0]  # reported on after the error
    assert len(one.events) > 1
    assert [r.getMessage() for r in caplog.records] == ["VAD listener failed"]


async def test_a_stream_fed_far_faster_than_real_time_holds_a_bounded_backlog() -> None:
    """A flood of audio keeps at most `max_pending_s` per stream (the newest), counts what it
    dropped, and the stream goes on scoring: memory stays flat however long it lasts."""
    batcher = Recording(hold_run=1, max_delay_s=0.01)
    batcher._max_pending = bound = 125  # 4 s of 32 ms windows (the default is 10 s)
    await batcher.start()
    try:
        one = Watched(expected=1 + bound)
        stream = one.attach(batcher.open(VADParams(), one))
        stream.feed(noise(0.032, -20, 1).tobytes())  # one window: its run is held
        await asyncio.to_thread(batcher.held.wait, 60)
        flood = noise(1.0, -20, 2).tobytes()  # 31 windows and a bit
        for _ in range(60):  # a minute of audio while the batcher cannot score
            stream.feed(flood)
            assert len(stream._pending) <= bound
        fed = len(flood) * 60 // WINDOW_BYTES
        assert len(stream._pending) == bound
        assert stream.dropped_windows == fed - bound
        batcher.release.set()
        await scored(one)  # the held window, then the newest `bound` windows
    finally:
        batcher.release.set()
        await batcher.aclose()
    assert len(one.confidences) == 1 + bound
    assert not stream._pending


def test_the_default_bound_is_ten_seconds_of_windows() -> None:
    assert VadBatcher()._max_pending == 313  # ceil(10 s * 8000 / 256)
    assert VadBatcher(sample_rate=16000, max_pending_s=2.0)._max_pending == 63
