"""`OutboundQueue`: Twilio media messages encoded once, in order, released at play-out pace."""

from __future__ import annotations

import audioop
import base64
import gc
import json
import math
import struct

import pytest
from pipecat.frames.frames import OutputAudioRawFrame, TTSTextFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

from voxroute.telephony.twilio.outbound import (
    FRAME_S,
    FRAME_SAMPLES,
    LEAD_S,
    Item,
    Kind,
    OutboundQueue,
)

SID = "MZ" + "a" * 32


def tone(seconds: float, hz: float = 440.0) -> bytes:
    n = int(8000 * seconds)
    return struct.pack(
        f"<{n}h", *(int(8000 * math.sin(2 * math.pi * hz * i / 8000)) for i in range(n))
    )


def drain(queue: OutboundQueue) -> list[Item]:
    released: list[Item] = []
    t = 0.0
    while len(queue):
        released += queue.due(now=t)
        t += FRAME_S
    return released


def media_payloads(items: list[Item]) -> list[bytes]:
    return [
        base64.b64decode(json.loads(i.payload)["media"]["payload"])
        for i in items
        if i.kind is Kind.MEDIA
    ]


async def test_media_messages_carry_what_pipecats_serializer_would_send() -> None:
    pcm = tone(0.2)
    queue = OutboundQueue(SID)
    queue.add_audio(pcm)
    ours = drain(queue)
    serializer = TwilioFrameSerializer(
        SID, params=TwilioFrameSerializer.InputParams(auto_hang_up=False)
    )
    theirs = []
    for start in range(0, len(pcm), FRAME_SAMPLES * 2):
        frame = OutputAudioRawFrame(pcm[start : start + FRAME_SAMPLES * 2], 8000, 1)
        message = json.loads(await serializer.serialize(frame))  # type: ignore[arg-type]
        assert message["streamSid"] == SID
        theirs.append(base64.b64decode(message["media"]["payload"]))
    assert media_payloads(ours) == theirs
    assert all(json.loads(i.payload)["streamSid"] == SID for i in ours)


def test_a_partial_frame_waits_for_the_rest_and_is_padded_at_the_end() -> None:
    queue = OutboundQueue(SID)
    queue.add_audio(tone(0.03))  # 1.5 frames
    assert len(queue) == 1 and not queue.idle
    queue.add_audio(tone(0.01))  # completes the second frame
    assert len(queue) == 2
    queue.add_audio(tone(0.005))
    queue.flush_audio()
    payloads = media_payloads(drain(queue))
    assert [len(p) for p in payloads] == [FRAME_SAMPLES] * 3
    assert payloads[-1][40:] == bytes([0xFF]) * (FRAME_SAMPLES - 40)  # μ-law silence
    assert queue.idle


def test_audio_is_released_as_it_plays_a_little_ahead() -> None:
    queue = OutboundQueue(SID)
    queue.add_audio(tone(1.0))  # 50 frames
    ahead = math.ceil(LEAD_S / FRAME_S)
    first = queue.due(now=100.0)
    assert len(first) == ahead
    assert queue.due(now=100.0) == []  # nothing more until it has played
    # On time (ticks a little before each frame is due): one frame per tick.
    ticks = [100.0 + k * FRAME_S - 0.005 for k in range(1, 6)]
    assert [len(queue.due(now=t)) for t in ticks] == [1] * 5
    # A tick 60 ms late releases what played meanwhile, and no more.
    assert len(queue.due(now=ticks[-1] + 0.06)) == 3
    # After a long silence the clock restarts from now: no burst of the missed time.
    queue.due(now=200.0)
    assert queue.play_end == pytest.approx(200.0 + LEAD_S, abs=FRAME_S)


def test_items_keep_their_place_behind_the_audio_before_them() -> None:
    queue = OutboundQueue(SID)
    queue.add_audio(tone(0.2))  # 10 frames
    text = TTSTextFrame("hello", text_type="word")
    queue.add(Item(Kind.FRAME, text))
    queue.add_mark("utt-1")
    released = drain(queue)
    kinds = [i.kind for i in released]
    assert kinds == [Kind.MEDIA] * 10 + [Kind.FRAME, Kind.MESSAGE]
    assert released[10].payload is text
    mark = json.loads(released[11].payload)
    assert mark == {"event": "mark", "streamSid": SID, "mark": {"name": "utt-1"}}


def test_interrupt_drops_interruptible_audio_and_frames_only() -> None:
    queue = OutboundQueue(SID)
    queue.add_audio(tone(0.2))
    queue.add(Item(Kind.FRAME, TTSTextFrame("dropped", text_type="word")))
    queue.add_audio(tone(0.1), interruptible=False)
    queue.add(Item(Kind.END, interruptible=False))
    queue.add_audio(tone(0.01))  # a partial frame: dropped too
    queue.due(now=5.0)
    queue.interrupt(now=5.01)
    assert queue.play_end == 5.01
    rest = queue.due(now=50.0) + queue.due(now=51.0)
    assert [i.kind for i in rest] == [Kind.MEDIA] * 5 + [Kind.END]
    assert not any(i.interruptible for i in rest)
    assert queue.idle and not queue.has_audio


def test_clear_message_names_the_stream() -> None:
    assert json.loads(OutboundQueue(SID).clear_message) == {"event": "clear", "streamSid": SID}


def test_queued_audio_adds_no_objects_for_the_garbage_collector_to_traverse() -> None:
    """TTS runs seconds ahead of play-out; every young collection on a busy worker would
    traverse each queued frame if it were a tracked object (BENCHMARKS.md §5)."""
    queue = OutboundQueue(SID)
    pcm = tone(5.0)
    gc.collect()
    gc.disable()  # no collection may move or free objects between the two counts
    try:
        before = len(gc.get_objects())
        queue.add_audio(pcm)
        after = len(gc.get_objects())
    finally:
        gc.enable()
    assert len(queue) == 250
    assert after - before < 10, after - before
    released = drain(queue)
    assert [i.kind for i in released] == [Kind.MEDIA] * 250
    assert b"".join(media_payloads(released)) == audioop.lin2ulaw(pcm, 2)
