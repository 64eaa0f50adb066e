"""What the softphone page sends, in Python: the same messages as `StreamMessages` in
`web/static/audio-wire.js` (a test pins them equal by running the JS), and a line that
streams 20 ms μ-law frames in real time, answers marks once their audio has played and
flushes on `clear`, as the page does."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

FRAME_BYTES = 160
FRAME_S = 0.02
SILENCE = b"\xff" * FRAME_BYTES


class PageMessages:
    """Mirror of `StreamMessages` (audio-wire.js)."""

    def __init__(
        self, *, call_sid: str, account_sid: str, call_token: str, stream_sid: str | None = None
    ) -> None:
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.call_token = call_token
        self.stream_sid = stream_sid or "MZ" + secrets.token_hex(16)
        self.seq = 0
        self.chunk = 0

    def _next(self) -> str:
        self.seq += 1
        return str(self.seq)

    def connected(self) -> dict[str, Any]:
        return {"event": "connected", "protocol": "Call", "version": "1.0.0"}

    def start(self) -> dict[str, Any]:
        return {
            "event": "start",
            "sequenceNumber": self._next(),
            "streamSid": self.stream_sid,
            "start": {
                "streamSid": self.stream_sid,
                "accountSid": self.account_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "customParameters": {"call_token": self.call_token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }

    def media(self, frame: bytes) -> dict[str, Any]:
        self.chunk += 1
        return {
            "event": "media",
            "sequenceNumber": self._next(),
            "streamSid": self.stream_sid,
            "media": {
                "track": "inbound",
                "chunk": str(self.chunk),
                "timestamp": str((self.chunk - 1) * 20),
                "payload": base64.b64encode(frame).decode(),
            },
        }

    def mark(self, name: str) -> dict[str, Any]:
        return {
            "event": "mark",
            "sequenceNumber": self._next(),
            "streamSid": self.stream_sid,
            "mark": {"name": name},
        }

    def stop(self) -> dict[str, Any]:
        return {
            "event": "stop",
            "sequenceNumber": self._next(),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
        }


@dataclass
class Heard:
    audio: bytearray = field(default_factory=bytearray)
    marks_echoed: list[str] = field(default_factory=list)
    clears: int = 0
    close_code: int | None = None
    last_audio_at: float = 0.0


class PageLine:
    """One browser call: a 20 ms sender clock and a receiver that plays and answers marks."""

    def __init__(self, ws: ClientConnection, messages: PageMessages) -> None:
        self.ws = ws
        self.msg = messages
        self.heard = Heard()
        self._play_end = 0.0
        self._marks: list[tuple[float, str]] = []
        self._receiver = asyncio.create_task(self._receive(), name="page-receiver")

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def open(self) -> None:
        await self._send(self.msg.connected())
        await self._send(self.msg.start())

    async def _receive(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                now = time.monotonic()
                if message.get("event") == "media":
                    audio = base64.b64decode(message["media"]["payload"])
                    self.heard.audio += audio
                    self.heard.last_audio_at = now
                    self._play_end = max(self._play_end, now) + len(audio) / 8000
                elif message.get("event") == "mark":
                    self._marks.append((self._play_end, message["mark"]["name"]))
                elif message.get("event") == "clear":
                    self.heard.clears += 1
                    self._play_end = now
                    self._marks = [(now, name) for _, name in self._marks]
        except ConnectionClosed:
            pass
        finally:
            self.heard.close_code = self.ws.close_code

    async def _answer_marks(self) -> None:
        now = time.monotonic()
        due = [name for at, name in self._marks if at <= now]
        self._marks = [(at, name) for at, name in self._marks if at > now]
        for name in due:
            await self._send(self.msg.mark(name))
            self.heard.marks_echoed.append(name)

    async def stream(self, frames: list[bytes]) -> None:
        """Send `frames` paced at 20 ms, answering marks between frames."""
        t0 = time.monotonic()
        for index, frame in enumerate(frames):
            await self._send(self.msg.media(frame))
            await self._answer_marks()
            delay = t0 + (index + 1) * FRAME_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def until_reply(self, since: float, *, quiet_s: float = 0.6, limit_s: float = 10) -> bool:
        """Send silence until audio arrived after `since` and then stopped for `quiet_s`."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and not self._receiver.done():
            last = self.heard.last_audio_at
            if last > since and time.monotonic() - last > quiet_s:
                return True
            await self.stream([SILENCE] * 5)
        return False

    async def wait_closed(self, timeout_s: float = 5) -> None:
        await asyncio.wait_for(self._receiver, timeout_s)

    async def hang_up(self) -> None:
        await self._answer_marks()
        await self._send(self.msg.stop())
        await self.ws.close()
        await asyncio.wait_for(self._receiver, 5)


def frames_of(ulaw: bytes) -> list[bytes]:
    padded = ulaw + SILENCE[: (-len(ulaw)) % FRAME_BYTES]
    return [padded[i : i + FRAME_BYTES] for i in range(0, len(padded), FRAME_BYTES)]


async def open_line(created: dict[str, Any]) -> PageLine:
    """Connect to `stream_url` and send `connected` + `start` as the page does."""
    ws = await connect(created["stream_url"], max_size=2**20, open_timeout=10)
    messages = PageMessages(
        call_sid=created["call_sid"],
        account_sid=created["account_sid"],
        call_token=created["call_token"],
    )
    line = PageLine(ws, messages)
    await line.open()
    return line
