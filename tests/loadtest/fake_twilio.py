"""A scripted fake of Twilio's side for the load generator's lines: it answers the voice
webhook with TwiML, sends one greeting frame, then ends the stream as `ending` says."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

__all__ = ["CLIP", "Ending", "FakeTwilioServer", "Start", "fake_twilio", "listen_until_closed"]

CLIP = Path(__file__).resolve().parents[2] / "src/voxroute/softphone/data/utterance-01.ulaw8k.wav"
GREETING = base64.b64encode(b"\xff" * 320).decode()  # 40 ms of μ-law silence
Ending = Callable[[web.WebSocketResponse, web.Request], Awaitable[None]]


class FakeTwilioServer:
    """Records every message the line sends; `ending` decides how the stream ends."""

    def __init__(self, ending: Ending) -> None:
        self.ending = ending
        self.received: list[dict[str, Any]] = []
        self.base_url = ""

    async def voice(self, request: web.Request) -> web.Response:
        stream = self.base_url.replace("http", "ws") + "/media"
        twiml = (
            f'<Response><Connect><Stream url="{stream}">'
            '<Parameter name="org" value="o1"/></Stream></Connect></Response>'
        )
        return web.Response(text=twiml, content_type="text/xml")

    async def media(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for _ in range(2):  # connected, start
            self.received.append(json.loads(await ws.receive_str()))
        greeting = {"event": "media", "streamSid": "MZ1", "media": {"payload": GREETING}}
        await ws.send_str(json.dumps(greeting))
        await self.ending(ws, request)
        return ws


Start = Callable[[Ending], Awaitable[FakeTwilioServer]]


async def listen_until_closed(ws: web.WebSocketResponse, request: web.Request) -> None:
    """The caller hangs up: read until its close."""
    async for _ in ws:
        pass


@pytest.fixture
async def fake_twilio() -> AsyncIterator[Start]:
    runners: list[web.AppRunner] = []

    async def start(ending: Ending) -> FakeTwilioServer:
        fake = FakeTwilioServer(ending)
        app = web.Application()
        app.router.add_post("/telephony/twilio/voice", fake.voice)
        app.router.add_get("/media", fake.media)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        fake.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return fake

    yield start
    for runner in runners:
        await runner.cleanup()
