"""One load-test line against a scripted fake Twilio endpoint: the wire and the close codes.

The fake (`conftest.FakeTwilioServer`) answers the voice webhook with TwiML, sends one
greeting frame, then ends the stream the way each test asks: the caller hangs up, the
server closes, or the TCP connection dies without a close frame.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

from aiohttp import web

from tests.loadtest.fake_twilio import CLIP, FakeTwilioServer, Start
from voxroute.loadtest.clock import FrameClock
from voxroute.loadtest.line import Clip, LineStats, run_line
from voxroute.softphone import CallPlan, CallResult


async def call(fake: FakeTwilioServer, seconds: float) -> LineStats:
    plan = CallPlan(
        fake.base_url,
        "+15550100000",
        "+15550109999",
        "AC" + "0" * 32,
        "token",
        initial_wait_s=0.1,
        quiet_s=0.3,
        reply_timeout_s=2.0,
    )
    stats = LineStats(result=CallResult(), index=0)
    clock = FrameClock()
    ticking = asyncio.create_task(clock.run())
    try:
        await run_line(plan, [Clip.load(CLIP)], clock, stats, time.monotonic() + seconds)
    finally:
        ticking.cancel()
    return stats


async def test_the_caller_hangs_up_after_streaming_twilio_media_messages(
    fake_twilio: Start,
) -> None:
    async def listen(ws: web.WebSocketResponse, request: web.Request) -> None:
        async for message in ws:
            fake.received.append(json.loads(message.data))

    fake = await fake_twilio(listen)
    stats = await call(fake, seconds=1.0)  # shorter than the clip: silence, then stop
    result = stats.result
    assert result.error is None and not stats.failed
    assert (result.hung_up_by, result.close_code) == ("caller", 1000)
    assert result.media_frames_received == 1 and result.setup_ms is not None
    events = [m["event"] for m in fake.received]
    assert events[:2] == ["connected", "start"] and events[-1] == "stop"
    assert fake.received[1]["start"]["customParameters"] == {"org": "o1"}
    media = [m for m in fake.received if m["event"] == "media"]
    assert len(media) == result.media_frames_sent >= 10
    sequence = [int(m["sequenceNumber"]) for m in fake.received[1:]]
    assert sequence == list(range(1, len(sequence) + 1))
    for chunk, message in enumerate(media, start=1):
        assert message["streamSid"] == result.stream_sid
        body = message["media"]
        assert (body["track"], body["chunk"], body["timestamp"]) == (
            "inbound",
            str(chunk),
            str(chunk * 20),
        )
        assert base64.b64decode(body["payload"]) == b"\xff" * 160


async def test_a_server_close_during_the_call_is_a_drop_with_its_close_code(
    fake_twilio: Start,
) -> None:
    async def close(ws: web.WebSocketResponse, request: web.Request) -> None:
        await ws.close(code=4000)

    stats = await call(await fake_twilio(close), seconds=5.0)
    assert stats.dropped and stats.failed
    assert (stats.result.hung_up_by, stats.result.close_code) == ("server", 4000)
    assert stats.result.error == "server ended the call early (close code 4000)"


async def test_a_connection_lost_without_a_close_frame_is_reported_as_1006(
    fake_twilio: Start,
) -> None:
    async def abort(ws: web.WebSocketResponse, request: web.Request) -> None:
        await asyncio.sleep(0.2)
        assert request.transport is not None
        request.transport.abort()

    stats = await call(await fake_twilio(abort), seconds=5.0)
    assert stats.dropped
    assert (stats.result.hung_up_by, stats.result.close_code) == ("server", 1006)
