"""A caller's side that stops reading, over a real socket: the server drops it on the
websocket keepalive and the call ends (it does not run on to its time limit)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.calls.harness import (
    ACCOUNT_SID,
    Env,
    Factory,
    default_stages,
    ended_call,
    running_server,
    seed,
)
from tests.calls.wire import new_call_sid, stream_of, voice_webhook
from voxroute.emulators import EmulatorSuite

LONG_GREETING = " ".join(["Thank you for calling the reservations line of our restaurant."] * 6)


@pytest.fixture
async def keepalive(session_factory: Factory, suite: EmulatorSuite) -> AsyncIterator[Env]:
    await seed(session_factory, max_duration_s=60, idle_timeout_s=30, first_message=LONG_GREETING)
    async with running_server(
        session_factory,
        twilio_api_base_url=suite.base_urls["twilio"],
        ws_ping_interval_s=0.5,
        ws_ping_timeout_s=0.5,
    ) as (base, runtime):
        runtime.stages = default_stages(suite)
        yield Env(base, runtime, suite, session_factory)


async def _start(ws: ClientConnection, call_sid: str, params: dict[str, str]) -> None:
    stream_sid = "MZ" + "0" * 32
    start = {
        "streamSid": stream_sid,
        "accountSid": ACCOUNT_SID,
        "callSid": call_sid,
        "customParameters": params,
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    await ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
    await ws.send(json.dumps({"event": "start", "start": start, "streamSid": stream_sid}))


async def test_a_caller_side_that_stops_reading_is_dropped_and_the_call_ended(
    keepalive: Env,
) -> None:
    call_sid = new_call_sid()
    status, twiml = await voice_webhook(keepalive.base, call_sid)
    stream = stream_of(twiml)
    assert status == 200 and stream is not None
    url, params = stream
    where = urlsplit(url)
    # A small receive buffer, at most one message queued and no pings of its own: once the
    # greeting starts, this side reads nothing more, pings from the server included.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (where.hostname, where.port))
    async with connect(url, sock=sock, max_queue=1, ping_interval=None, close_timeout=0.5) as ws:
        await _start(ws, call_sid, params)
        # The greeting alone lasts far longer than this, and the time limit is 60 s.
        stored = await ended_call(keepalive, within_s=15)
    assert stored.end_reason == "caller_hung_up"
