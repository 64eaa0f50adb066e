"""The media lane: text messages offered to a synchronous sink before ASGI's receive queue
(uvicorn over a real socket), and the Twilio serializer as that sink."""

from __future__ import annotations

import asyncio
import audioop
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, cast

import uvicorn
import websockets

from tests.calls.harness import free_socket
from voxroute.telephony.media_lane import LANE_EXTENSION, MediaLane, MediaLaneProtocol
from voxroute.telephony.twilio.serializer import StreamCallbacks, VoxrouteTwilioSerializer

STREAM = "MZ" + "0" * 32


class LaneApp:
    """An ASGI websocket app whose sink takes the messages that start with "lane:"; it
    answers every message that reaches `receive()` with "ack:" + the message."""

    def __init__(self, *, attach: bool = True) -> None:
        self.attach = attach
        self.lane: MediaLane | None = None
        self.taken: list[str] = []
        self.received: list[str] = []
        self.sent_on_lane: list[bool] = []

    def sink(self, text: str) -> bool:
        if text == "boom":
            raise RuntimeError("a sink that fails")
        if text.startswith("lane:"):
            self.taken.append(text)
            return True
        return False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        self.lane = scope["extensions"].get(LANE_EXTENSION)
        if self.attach and self.lane is not None:
            self.lane.attach(self.sink)
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message["text"]
            self.received.append(text)
            if text == "detach" and self.lane is not None:
                self.lane.detach()
            if text.startswith("reply:") and self.lane is not None:
                self.sent_on_lane.append(self.lane.send_text("lane-ack:" + text))
            await send({"type": "websocket.send", "text": "ack:" + text})


@asynccontextmanager
async def serving(app: LaneApp, ws: Any = MediaLaneProtocol) -> AsyncIterator[str]:
    sock = free_socket()
    url = f"ws://127.0.0.1:{sock.getsockname()[1]}/media"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws=ws))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.01)
    try:
        yield url
    finally:
        server.should_exit = True
        await task
        sock.close()


async def exchange(url: str, messages: list[str]) -> list[str]:
    """Send `messages`, then a final "end" through the queue; the acks received up to it."""
    acks = []
    async with websockets.connect(url) as ws:
        for message in messages:
            await ws.send(message)
        await ws.send("end")
        while (ack := str(await ws.recv())) != "ack:end":
            acks.append(ack)
    return acks


async def test_the_sink_takes_its_messages_and_the_rest_keep_their_order() -> None:
    app = LaneApp()
    async with serving(app) as url:
        acks = await exchange(url, ["lane:1", "q:2", "lane:3", "q:4"])
    assert app.taken == ["lane:1", "lane:3"]
    assert app.received == ["q:2", "q:4", "end"]
    assert acks == ["ack:q:2", "ack:q:4"]
    assert app.lane is not None and app.lane.taken == 2


async def test_each_connection_has_its_own_lane() -> None:
    app = LaneApp()
    async with serving(app) as url:
        await exchange(url, ["lane:1", "detach"])  # detached once "detach" is answered
        assert app.lane is not None and app.lane.sink is None
        app.received.clear()
        await exchange(url, ["lane:2"])  # a new connection: a new lane, attached again
    assert app.taken == ["lane:1", "lane:2"]
    assert app.received == ["end"]


async def test_a_detached_lane_sends_everything_to_the_queue() -> None:
    app = LaneApp()
    async with serving(app) as url, websockets.connect(url) as ws:
        await ws.send("detach")
        assert await ws.recv() == "ack:detach"
        await ws.send("lane:1")
        assert await ws.recv() == "ack:lane:1"
    assert app.taken == []
    assert app.received == ["detach", "lane:1"]


async def test_a_failing_sink_drops_that_message_and_the_connection_lives_on() -> None:
    app = LaneApp()
    async with serving(app) as url:
        acks = await exchange(url, ["boom", "q:1", "lane:2"])
    assert acks == ["ack:q:1"]
    assert app.received == ["q:1", "end"]  # "boom" is not handled twice
    assert app.taken == ["lane:2"]


async def test_without_a_sink_or_without_the_protocol_all_take_the_queue() -> None:
    unattached = LaneApp(attach=False)
    async with serving(unattached) as url:
        await exchange(url, ["lane:1", "q:2"])
    assert unattached.received == ["lane:1", "q:2", "end"]
    assert unattached.taken == []

    plain = LaneApp()
    async with serving(plain, ws="websockets-sansio") as url:
        await exchange(url, ["lane:1"])
    assert plain.lane is None  # no lane offered
    assert plain.received == ["lane:1", "end"]


async def test_the_lane_sends_in_order_with_the_asgi_sends() -> None:
    app = LaneApp()
    async with serving(app) as url:
        acks = await exchange(url, ["reply:1", "q:2", "reply:3"])
    assert app.sent_on_lane == [True, True]
    assert acks == ["lane-ack:reply:1", "ack:reply:1", "ack:q:2", "lane-ack:reply:3", "ack:reply:3"]
    assert app.lane is not None and app.lane.sent == 2
    # Once the connection has closed, the lane sends nothing: the caller falls back.
    assert app.lane.send_text("late") is False


# -- the Twilio serializer as the sink ------------------------------------------------------
def media(payload: bytes, stream_sid: str = STREAM) -> str:
    return json.dumps(
        {
            "event": "media",
            "streamSid": stream_sid,
            "media": {"track": "inbound", "payload": base64.b64encode(payload).decode()},
        }
    )


def pipeline_at(rate: int) -> Any:
    """What the serializer reads of pipecat's `FrameProcessorSetup`."""
    return cast(Any, SimpleNamespace(audio_in_sample_rate=rate))


def new_serializer(callbacks: StreamCallbacks | None = None) -> VoxrouteTwilioSerializer:
    return VoxrouteTwilioSerializer(
        stream_sid=STREAM,
        call_sid="CA" + "0" * 32,
        account_sid="AC" + "0" * 32,
        auth_token=None,
        api_base_url=None,
        max_message_bytes=65536,
        callbacks=callbacks,
    )


async def twilio_serializer() -> tuple[VoxrouteTwilioSerializer, list[bytes], list[str]]:
    marks: list[str] = []
    serializer = new_serializer(StreamCallbacks(on_mark=marks.append))
    audio: list[bytes] = []
    serializer.audio_sink = audio.append
    await serializer.setup(pipeline_at(8000))
    return serializer, audio, marks


async def test_the_serializer_takes_media_marks_stop_and_bad_input_and_leaves_dtmf() -> None:
    serializer, audio, marks = await twilio_serializer()
    ulaw = bytes(range(160))
    assert serializer.take_message(media(ulaw)) is True
    assert audio == [audioop.ulaw2lin(ulaw, 2)]  # as pipecat's decoder gives it

    mark = {"event": "mark", "streamSid": STREAM, "mark": {"name": "utt-1"}}
    assert serializer.take_message(json.dumps(mark)) is True
    assert marks == ["utt-1"]

    dtmf = {"event": "dtmf", "streamSid": STREAM, "dtmf": {"track": "inbound", "digit": "5"}}
    assert serializer.take_message(json.dumps(dtmf)) is False  # a pipeline frame: the loop's

    assert serializer.take_message("{not json") is True
    assert serializer.take_message(media(ulaw, stream_sid="MZother")) is True
    assert serializer.stats.rejected == 2 and len(audio) == 1

    assert serializer.take_message(json.dumps({"event": "stop", "streamSid": STREAM})) is True
    assert serializer.stopped
    assert serializer.take_message(media(ulaw)) is True  # after stop: dropped and counted
    assert len(audio) == 1 and serializer.stats.rejected == 3
    assert serializer.stats.media_frames == 1
    assert serializer.stats.lane_messages == 6


async def test_the_serializer_leaves_everything_to_the_loop_until_set_up() -> None:
    serializer = new_serializer()
    serializer.audio_sink = [].append
    assert serializer.take_message(media(b"\xff" * 160)) is False  # no pipeline rate yet
    await serializer.setup(pipeline_at(16000))
    assert serializer.take_message(media(b"\xff" * 160)) is False  # needs resampling
    assert serializer.stats.lane_messages == 0
