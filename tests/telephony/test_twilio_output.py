"""`TwilioOutput` in a real pipecat pipeline (pipecat's own `run_test`), with a recording
socket client and the worker's `AudioClock`: order, bot speaking frames, marks, barge-in
and the end of the call. Figures are ratios of the run's own times, never thresholds."""

from __future__ import annotations

import asyncio
import json
import math
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    OutputTransportReadyFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from voxroute.telephony.audio_clock import AudioClock
from voxroute.telephony.twilio import transport
from voxroute.telephony.twilio.outbound import FRAME_S, LEAD_S, OutboundQueue
from voxroute.telephony.twilio.transport import TwilioOutput

SID = "MZ" + "b" * 32


def speech(seconds: float) -> TTSAudioRawFrame:
    n = int(8000 * seconds)
    pcm = struct.pack(f"<{n}h", *(int(6000 * math.sin(i / 3)) for i in range(n)))
    return TTSAudioRawFrame(pcm, 8000, 1, context_id="ctx")


class RecordingClient:
    """The socket side of `FastAPIWebsocketClient`, recording what is sent and when."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.is_connected = True
        self.is_closing = False
        self.disconnected_at: float | None = None
        self.speaking_marks = 0  # calls of the output's `on_speaking`

    def on_speaking(self) -> None:
        self.speaking_marks += 1

    async def setup(self, _setup: object) -> None:
        pass

    async def send(self, text: str) -> None:
        self.sent.append((asyncio.get_running_loop().time(), json.loads(text)))

    async def disconnect(self) -> None:
        self.disconnected_at = asyncio.get_running_loop().time()

    def events(self) -> list[str]:
        return [message["event"] for _, message in self.sent]

    def media_times(self) -> list[float]:
        return [t for t, message in self.sent if message["event"] == "media"]


class RecordingLane:
    """The media lane's `send_text` onto the same record as the client; `refuse_after`
    sends, it reports a full socket (False), as the lane does below the high-water mark."""

    def __init__(self, client: RecordingClient, refuse_after: int | None = None) -> None:
        self.client = client
        self.refuse_after = refuse_after
        self.sent = 0

    def send_text(self, text: str) -> bool:
        if self.refuse_after is not None and self.sent >= self.refuse_after:
            return False
        self.sent += 1
        self.client.sent.append((asyncio.get_running_loop().time(), json.loads(text)))
        return True


class RecordingSerializer:
    stream_sid = SID

    def __init__(self) -> None:
        self.serialized: list[tuple[float, Frame]] = []

    async def serialize(self, frame: Frame) -> None:  # the REST hang-up for End/Cancel
        self.serialized.append((asyncio.get_running_loop().time(), frame))


class NoTransport:
    async def cleanup(self) -> None:
        pass


@pytest.fixture
async def clock() -> AsyncIterator[AudioClock]:
    clock = AudioClock()
    await clock.start()
    yield clock
    await clock.aclose()


def output(
    clock: AudioClock, client: RecordingClient | None = None, lane: RecordingLane | None = None
) -> tuple[TwilioOutput, RecordingClient, RecordingSerializer]:
    client, serializer = client or RecordingClient(), RecordingSerializer()
    processor = TwilioOutput(
        transport=NoTransport(),  # type: ignore[arg-type]
        client=client,  # type: ignore[arg-type]
        serializer=serializer,  # type: ignore[arg-type]
        clock=clock,
        on_speaking=client.on_speaking,
        lane_send=lane.send_text if lane is not None else None,
    )
    return processor, client, serializer


@pytest.mark.parametrize("with_lane", [False, True], ids=["sender", "lane"])
async def test_an_utterance_is_sent_in_order_as_it_plays_then_marked(
    clock: AudioClock, with_lane: bool
) -> None:
    client = RecordingClient()
    lane = RecordingLane(client) if with_lane else None
    processor, client, serializer = output(clock, client, lane)
    word = TTSTextFrame("hello", text_type="word")
    down, up = await run_test(
        processor,
        frames_to_send=[TTSStartedFrame(), speech(0.6), word, TTSStoppedFrame()],
    )
    assert [type(f) for f in down] == [
        TTSStartedFrame,
        BotStartedSpeakingFrame,
        TTSTextFrame,  # passed on once the audio before it was sent
        BotStoppedSpeakingFrame,
        TTSStoppedFrame,
    ]
    assert [type(f) for f in up] == [
        OutputTransportReadyFrame,
        BotStartedSpeakingFrame,
        BotStoppedSpeakingFrame,
    ]
    assert client.events() == ["media"] * 30 + ["mark"]
    assert client.sent[-1][1]["mark"] == {"name": "utt-1"}
    # The idle timeout hears of the bot speaking with each frame sent, never through a
    # BotSpeakingFrame crossing the pipeline (pipecat's output sends one every 200 ms).
    assert client.speaking_marks == 30
    if lane is not None:  # the clock sent all but the utterance's first release itself
        assert 30 - LEAD_S / FRAME_S - 1 <= lane.sent <= 30
        assert processor.lane_sent == lane.sent
    assert processor.marks_sent == 1
    times = client.media_times()
    played_s = len(times) * FRAME_S
    assert times[-1] - times[0] > 0.7 * (played_s - LEAD_S)  # paced, not a burst
    # The end of the call waits for the audio to play out, then hangs up and closes.
    ((hung_up_at, end),) = serializer.serialized
    assert isinstance(end, EndFrame)
    assert hung_up_at - times[0] > 0.9 * played_s
    assert client.disconnected_at is not None and client.disconnected_at >= hung_up_at


async def test_barge_in_drops_queued_audio_and_its_words_and_clears_twilio(
    clock: AudioClock,
) -> None:
    processor, client, _ = output(clock)
    down, _ = await run_test(
        processor,
        frames_to_send=[
            TTSStartedFrame(),
            speech(2.0),
            TTSTextFrame("never", text_type="word"),
            SleepFrame(sleep=0.3),
            InterruptionFrame(),
            SleepFrame(sleep=0.2),
        ],
    )
    media = client.events().count("media")
    assert 0 < media < 100 // 2  # far less than the 2 s (100 frames) queued
    assert client.events()[media:] == ["clear"]  # nothing is sent after the clear
    kinds = [type(f) for f in down]
    assert TTSTextFrame not in kinds  # its audio was never sent
    assert kinds.index(InterruptionFrame) < kinds.index(BotStoppedSpeakingFrame)


async def test_a_full_socket_hands_the_rest_to_the_sender_in_order(clock: AudioClock) -> None:
    client = RecordingClient()
    lane = RecordingLane(client, refuse_after=10)
    processor, client, _ = output(clock, client, lane)
    first, second = speech(0.6), speech(0.2)
    await run_test(processor, frames_to_send=[first, TTSStoppedFrame(), second])
    assert lane.sent == 10
    assert client.events() == ["media"] * 30 + ["mark"] + ["media"] * 10  # none lost
    # Every frame once, in the order encoded, across both paths.
    expected = OutboundQueue(SID)
    expected.add_audio(first.audio + second.audio)
    items, now = [], 0.0
    while len(expected):
        items += expected.due(now)
        now += FRAME_S
    payloads = [json.loads(item.payload)["media"]["payload"] for item in items]
    assert [m["media"]["payload"] for _, m in client.sent if m["event"] == "media"] == payloads


async def test_no_clear_when_nothing_is_playing(clock: AudioClock) -> None:
    processor, client, _ = output(clock)
    await run_test(
        processor,
        frames_to_send=[speech(0.1), TTSStoppedFrame(), SleepFrame(sleep=0.4), InterruptionFrame()],
    )
    assert "clear" not in client.events()
    assert client.events() == ["media"] * 5 + ["mark"]


async def test_cancel_stops_at_once_without_playing_out(clock: AudioClock) -> None:
    processor, client, serializer = output(clock)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await run_test(
        processor,
        frames_to_send=[speech(3.0), SleepFrame(sleep=0.2), CancelFrame()],
        send_end_frame=False,
    )
    assert client.events().count("media") < 150 // 2
    assert [type(f) for _, f in serializer.serialized] == [CancelFrame]
    assert serializer.serialized[0][0] - started < 3.0 / 2  # did not wait for the audio
    assert len(clock) == 0  # the call left the worker's clock


class StuckClient(RecordingClient):
    """A peer that stopped reading: the first send never returns."""

    async def send(self, text: str) -> None:
        await super().send(text)
        await asyncio.Event().wait()


async def test_a_peer_that_stops_reading_is_reported_and_the_call_cancelled(
    clock: AudioClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "WRITE_TIMEOUT_S", 0.2)
    processor, client, serializer = output(clock, StuckClient())
    _, up = await asyncio.wait_for(
        run_test(
            processor,
            frames_to_send=[speech(1.0)],
            send_end_frame=False,  # only the output's own cancel ends this pipeline
        ),
        timeout=10,
    )
    errors = [f for f in up if isinstance(f, ErrorFrame)]
    assert len(errors) == 1
    assert "stopped reading" in errors[0].error
    assert client.events() == ["media"]  # nothing more was attempted behind the stuck send
    assert [type(f) for _, f in serializer.serialized] == [CancelFrame]  # hung up via REST
    assert len(clock) == 0
