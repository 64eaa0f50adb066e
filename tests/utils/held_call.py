"""A phone call the test holds open as long as it likes: a signed Twilio voice webhook, then a
Media Streams websocket fed with 20 ms of silence at a time until the test hangs up (or the
server ends the call). For drain, node-death and cross-node tests against real servers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import xml.etree.ElementTree as ET  # noqa: S405 - parses TwiML from the server under test
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voxroute.softphone.audio import SILENCE_FRAME
from voxroute.telephony.twilio.signature import compute_signature

FRAME_S = 0.02
WAIT_S = 60.0  # a hang guard, not a timing bound


class Refused(Exception):  # noqa: N818 - what the carrier heard
    """The webhook answered with `<Reject>` (busy): the call never started."""


@dataclass(frozen=True)
class Line:
    """The demo organisation's number and Twilio credentials (from `demo.json`)."""

    number: str
    account_sid: str
    auth_token: str


async def voice_webhook(
    base_url: str, line: Line, call_sid: str, *, signed_url: str | None = None
) -> httpx.Response:
    """POST the signed voice webhook as Twilio does (`signed_url`: the public URL)."""
    path = "/telephony/twilio/voice"
    params = {
        "AccountSid": line.account_sid,
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": "+15550009999",
        "To": line.number,
    }
    signature = compute_signature(line.auth_token, (signed_url or base_url) + path, params)
    async with httpx.AsyncClient(timeout=WAIT_S) as http:
        return await http.post(
            base_url + path, data=params, headers={"X-Twilio-Signature": signature}
        )


def stream_of(twiml: str) -> tuple[str, dict[str, str]] | None:
    """The `<Connect><Stream>` URL and parameters of a TwiML answer, or None."""
    stream = ET.fromstring(twiml).find("./Connect/Stream")  # noqa: S314 - trusted server
    if stream is None:
        return None
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return str(stream.get("url")), params


@dataclass
class HeldCall:
    line: Line
    call_sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    received_media: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    _ws: ClientConnection | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(
        self, base_url: str, *, stream_url: str | None = None, signed_url: str | None = None
    ) -> None:
        """Webhook to `base_url` (signed for `signed_url`, the public URL, if given); the media
        stream to the URL in the answer (or to `stream_url`, e.g. another node's)."""
        answer = await voice_webhook(base_url, self.line, self.call_sid, signed_url=signed_url)
        assert answer.status_code == 200, answer.text
        stream = stream_of(answer.text)
        if stream is None and "<Reject" in answer.text:
            raise Refused(answer.text)
        assert stream is not None, answer.text
        url, params = stream
        self._ws = await connect(stream_url or url, open_timeout=WAIT_S)
        stream_sid = "MZ" + secrets.token_hex(16)
        start = {
            "streamSid": stream_sid,
            "accountSid": self.line.account_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await self._ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
        await self._ws.send(json.dumps({"event": "start", "streamSid": stream_sid, "start": start}))
        self._stream_sid = stream_sid
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._send(), name="held-call-send"),
            loop.create_task(self._receive(), name="held-call-receive"),
        ]

    async def _send(self) -> None:
        assert self._ws is not None
        payload = base64.b64encode(SILENCE_FRAME).decode()
        message = json.dumps(
            {"event": "media", "streamSid": self._stream_sid, "media": {"payload": payload}}
        )
        with contextlib.suppress(ConnectionClosed):
            while not self.closed.is_set():
                await self._ws.send(message)
                await asyncio.sleep(FRAME_S)

    async def _receive(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                if json.loads(raw).get("event") == "media":
                    self.received_media += 1
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            self.closed.set()

    async def hang_up(self) -> None:
        """The caller hangs up: Twilio's `stop`, then wait for the server to close."""
        assert self._ws is not None
        stop = {"event": "stop", "streamSid": self._stream_sid, "stop": {"callSid": self.call_sid}}
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(json.dumps(stop))
        await self.wait_closed()

    async def wait_closed(self) -> None:
        await asyncio.wait_for(self.closed.wait(), WAIT_S)
        await self.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
