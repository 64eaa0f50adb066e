"""`CallerAudioPath` on its own: STT batching, pre-start buffering and VAD events in order.

The STT is a recorder with the four methods the path uses, so each test sees exactly what
would reach pipecat; the VAD is the real worker batcher on real speech.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    Frame,
    StartFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.services.stt_service import STTService

from voxroute.calls.caller_audio import (
    PRESTART_FRAMES,
    STT_BATCH_FRAMES,
    CallerAudioPath,
)
from voxroute.calls.vad_batch import VadBatcher
from voxroute.softphone.audio import load_ulaw, ulaw_to_pcm16

AUDIO = Path(__file__).parents[1] / "data" / "audio"
FRAME_BYTES = 320  # 20 ms of 16-bit PCM at 8 kHz


@dataclass
class RecordingSTT:
    """What the path does to its STT, in order: ("audio", bytes) or ("frame", Frame); and
    ("speech", None) for each call of the path's `on_speech` (the idle timeout's signal)."""

    log: list[tuple[str, Any]] = field(default_factory=list)
    path: CallerAudioPath | None = None
    # At each speech-stopped frame: (bytes sent to the STT so far, bytes the path received).
    at_stops: list[tuple[int, int]] = field(default_factory=list)

    async def start(self, frame: StartFrame) -> None:
        self.log.append(("start", None))

    async def stop(self, frame: Frame) -> None:
        self.log.append(("stop", None))

    async def cancel(self, frame: Frame) -> None:
        self.log.append(("cancel", None))

    async def process_audio_frame(self, frame: Any, direction: Any) -> None:
        self.log.append(("audio", frame.audio))

    async def queue_frame(self, frame: Frame, direction: Any = None) -> None:
        self.log.append(("frame", frame))
        if isinstance(frame, VADUserStoppedSpeakingFrame) and self.path is not None:
            self.at_stops.append((sum(map(len, self.sends())), self.path.frames * FRAME_BYTES))

    def on_speech(self) -> None:
        self.log.append(("speech", None))

    async def push_error(self, **kwargs: Any) -> None:  # pragma: no cover - not reached
        self.log.append(("error", kwargs))

    def sends(self) -> list[bytes]:
        return [item for kind, item in self.log if kind == "audio"]

    def frames(self) -> list[Frame]:
        return [item for kind, item in self.log if kind == "frame"]


def speech_then_silence() -> list[bytes]:
    pcm = ulaw_to_pcm16(load_ulaw(AUDIO / "utterance-02.ulaw8k.wav"))
    audio = np.concatenate([pcm, np.zeros(8000 * 2, np.int16)]).tobytes()
    return [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]


@pytest.fixture
async def vad() -> AsyncIterator[VadBatcher]:
    batcher = VadBatcher()
    await batcher.start()
    yield batcher
    await batcher.aclose()


def new_path(vad: VadBatcher) -> tuple[CallerAudioPath, RecordingSTT]:
    stt = RecordingSTT()
    path = CallerAudioPath(
        cast(STTService, stt),
        vad,
        VADParams(stop_secs=0.2),
        sample_rate=8000,
        on_speech=stt.on_speech,
    )
    stt.path = path
    return path, stt


async def feed_in_real_time(path: CallerAudioPath, frames: list[bytes]) -> None:
    for frame in frames:
        path.feed(frame)
        await asyncio.sleep(0.002)  # lets the batcher's flushes and the path's drain run


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - polling a plain predicate
            await asyncio.sleep(0.001)


async def test_audio_before_the_stt_starts_is_kept_and_sent_first(vad: VadBatcher) -> None:
    path, stt = new_path(vad)
    silence = [bytes([i]) * FRAME_BYTES for i in range(PRESTART_FRAMES + 10)]
    await feed_in_real_time(path, silence)
    assert stt.sends() == []  # nothing can go to an STT that has not started

    await stt.start(StartFrame())  # pipecat calls the instance's start
    path.feed(b"\x00" * FRAME_BYTES)
    await until(lambda: bool(stt.sends()))

    (first,) = stt.sends()
    kept = silence[-PRESTART_FRAMES + 1 :]  # the last second, plus the new frame
    assert first == b"".join(kept) + b"\x00" * FRAME_BYTES
    await path.aclose()


async def test_the_stt_gets_100_ms_sends(vad: VadBatcher) -> None:
    path, stt = new_path(vad)
    await stt.start(StartFrame())
    frames = [bytes([i % 7]) * FRAME_BYTES for i in range(STT_BATCH_FRAMES * 4 + 2)]
    await feed_in_real_time(path, frames)

    sends = stt.sends()
    assert [len(s) for s in sends] == [STT_BATCH_FRAMES * FRAME_BYTES] * 4
    assert b"".join(sends) == b"".join(frames[: STT_BATCH_FRAMES * 4])  # in order, none lost
    await path.aclose()


async def test_speech_reaches_the_pipeline_as_vad_events_with_audio_flushed_first(
    vad: VadBatcher,
) -> None:
    path, stt = new_path(vad)
    await stt.start(StartFrame())
    frames = speech_then_silence()
    await feed_in_real_time(path, frames)

    kinds = [type(f) for f in stt.frames()]
    assert kinds[0] is VADUserStartedSpeakingFrame
    assert kinds[-1] is VADUserStoppedSpeakingFrame
    assert kinds.count(VADUserStartedSpeakingFrame) == kinds.count(VADUserStoppedSpeakingFrame)
    # `on_speech` for every frame while the caller speaks, never in silence, and no
    # pipecat frame for it (pipecat's UserSpeakingFrame would cross the whole pipeline).
    speaking, marks = False, []
    for kind, item in stt.log:
        if kind == "frame":
            speaking = isinstance(item, VADUserStartedSpeakingFrame) or (
                speaking and not isinstance(item, VADUserStoppedSpeakingFrame)
            )
        elif kind == "speech":
            marks.append(speaking)
    assert len(marks) > 10 and all(marks)
    assert set(kinds) == {VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame}

    # Everything received before a stop was sent to the STT before the stop was queued.
    assert stt.at_stops
    for sent, received in stt.at_stops:
        assert sent == received
    stopped = stt.frames()[-1]
    assert isinstance(stopped, VADUserStoppedSpeakingFrame) and stopped.stop_secs == 0.2
    await path.aclose()


async def test_no_events_after_close(vad: VadBatcher) -> None:
    path, stt = new_path(vad)
    await stt.start(StartFrame())
    await path.aclose()
    await feed_in_real_time(path, speech_then_silence()[:150])
    assert stt.frames() == []
