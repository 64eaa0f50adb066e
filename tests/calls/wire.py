"""A raw Twilio side of one call, for tests that send what the softphone never would
(malformed frames, DTMF, frames after `stop`) or need to act between webhook and stream."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.calls.harness import ACCOUNT_SID, AUTH_TOKEN, CALLER, NUMBER
from voxroute.softphone.audio import SILENCE_FRAME, frames_of, load_ulaw
from voxroute.telephony.twilio.signature import compute_signature


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


async def voice_webhook(base: str, call_sid: str, *, number: str = NUMBER) -> tuple[int, str]:
    """The signed `POST /telephony/twilio/voice` Twilio sends for an incoming call."""
    url = base + "/telephony/twilio/voice"
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "From": CALLER,
        "To": number,
        "CallStatus": "ringing",
    }
    headers = {"X-Twilio-Signature": compute_signature(AUTH_TOKEN, url, params)}
    async with aiohttp.ClientSession() as http, http.post(url, data=params, headers=headers) as r:
        return r.status, await r.text()


def stream_of(twiml: str) -> tuple[str, dict[str, str]] | None:
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    if stream is None:
        return None
    params = {str(p.get("name")): str(p.get("value")) for p in stream.findall("Parameter")}
    return str(stream.get("url")), params


@dataclass
class Line:
    """One open media stream with a 20 ms sender clock (silence unless audio is queued)."""

    ws: ClientConnection
    call_sid: str
    stream_sid: str
    audio: bytearray = field(default_factory=bytearray)
    events: list[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    outgoing: list[bytes] = field(default_factory=list)
    last_audio_at: float = 0.0
    # (loop time, μ-law bytes) of every media message received, and when the socket closed.
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    closed_at: float | None = None

    def message(self, event: str, **body: object) -> str:
        return json.dumps({"event": event, "streamSid": self.stream_sid, **body})

    def media(self, frame: bytes, stream_sid: str | None = None) -> str:
        payload = base64.b64encode(frame).decode()
        body = {"event": "media", "streamSid": stream_sid or self.stream_sid}
        return json.dumps({**body, "media": {"track": "inbound", "payload": payload}})

    async def send(self, raw: str | bytes) -> bool:
        """Send one raw message; False once the server has closed the socket."""
        try:
            await self.ws.send(raw)
        except ConnectionClosed:
            return False
        return True

    def play(self, wav: Path) -> None:
        self.outgoing.extend(frames_of(load_ulaw(wav)))

    async def wait_for_audio(self, seconds: float, within_s: float) -> bool:
        """Until at least `seconds` more audio than now has arrived (or `within_s`/close)."""
        target = len(self.audio) + int(seconds * 8000)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while len(self.audio) < target and not self.closed.is_set():  # noqa: ASYNC110
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.05)
        return len(self.audio) >= target

    async def wait_until_quiet(self, quiet_s: float, within_s: float) -> None:
        """Until some audio came and then none for `quiet_s` (the bot finished a turn)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while not self.closed.is_set() and loop.time() < deadline:  # noqa: ASYNC110
            if self.audio and loop.time() - self.last_audio_at >= quiet_s:
                return
            await asyncio.sleep(0.05)

    async def _sender(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self.closed.is_set():
            frame = self.outgoing.pop(0) if self.outgoing else SILENCE_FRAME
            if not await self.send(self.media(frame)):
                return
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def _receiver(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                now = asyncio.get_running_loop().time()
                if msg.get("event") == "media":
                    audio = base64.b64decode(msg["media"]["payload"])
                    self.audio.extend(audio)
                    self.last_audio_at = now
                    self.arrivals.append((now, len(audio)))
                else:
                    self.events.append(str(msg.get("event")))
        except ConnectionClosed:
            pass
        finally:
            self.closed_at = asyncio.get_running_loop().time()
            self.closed.set()


@asynccontextmanager
async def open_line(
    base: str, *, call_sid: str | None = None, send_audio: bool = True
) -> AsyncIterator[Line]:
    """Webhook → websocket → `connected` + `start` → yield the line."""
    call_sid = call_sid or new_call_sid()
    status, twiml = await voice_webhook(base, call_sid)
    assert status == 200, twiml
    stream = stream_of(twiml)
    assert stream is not None, twiml
    async with open_stream(stream, call_sid, send_audio=send_audio) as line:
        yield line


@asynccontextmanager
async def open_stream(
    stream: tuple[str, dict[str, str]], call_sid: str, *, send_audio: bool = True
) -> AsyncIterator[Line]:
    url, params = stream
    async with connect(url, max_size=2**20) as ws:
        line = Line(ws, call_sid, "MZ" + secrets.token_hex(16))
        start = {
            "streamSid": line.stream_sid,
            "accountSid": ACCOUNT_SID,
            "callSid": call_sid,
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
        await ws.send(line.message("start", start=start))
        tasks = [asyncio.create_task(line._receiver(), name="line-receiver")]
        if send_audio:
            tasks.append(asyncio.create_task(line._sender(), name="line-sender"))
        try:
            yield line
        finally:
            line.closed.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
