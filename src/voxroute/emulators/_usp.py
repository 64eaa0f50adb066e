"""Azure Speech USP (the websocket protocol of the native Speech SDK): STT and TTS sessions.

Spike result: the installed ``azure-cognitiveservices-speech`` 1.53 talks to this server
unchanged. ``SpeechConfig(host="ws://127.0.0.1:P")`` recognizes over
``/speech/recognition/{interactive|conversation|dictation}/cognitiveservices/v1`` and
synthesizes over ``/cognitiveservices/websocket/v1``; ``SpeechConfig(endpoint=URL)`` uses the
URL's path as given (an ``http://`` endpoint is still upgraded to a websocket). It offers the
``USP`` subprotocol and sends ``Ocp-Apim-Subscription-Key`` on the upgrade.

Framing: text frames are ``Name: value`` header lines, a blank line, then the body; binary
frames are a 2-byte big-endian header length, the header lines, then the payload. Every
server message echoes the client's ``X-RequestId``.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
import xml.etree.ElementTree as ET  # noqa: S405 - SSML from local test clients
from typing import Any

from aiohttp import WSMsgType, web

from ._audio import chunk_bytes, decode, encode, tone, word_timings
from ._core import BadInput, Exchange
from ._vad import Segment, UtteranceDetector

__all__ = ["SttSession", "TtsSession", "parse_frame"]

TICKS = 10_000_000  # USP offsets are 100-ns ticks


def parse_frame(data: str | bytes) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case names) and body of a text or binary USP frame."""
    if isinstance(data, str):
        head, _, body = data.partition("\r\n\r\n")
        payload = body.encode()
    else:
        if len(data) < 2:
            raise BadInput("binary frame too short")
        size = struct.unpack(">H", data[:2])[0]
        head, payload = data[2 : 2 + size].decode("utf-8", "replace"), data[2 + size :]
    headers: dict[str, str] = {}
    for line in head.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, payload


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class _Usp:
    def __init__(self, ws: web.WebSocketResponse, exchange: Exchange) -> None:
        self._ws, self._ex = ws, exchange
        self._request_id = uuid.uuid4().hex

    async def text(self, path: str, body: dict[str, Any], *, counted: bool = True) -> None:
        frame = (
            f"Path: {path}\r\nX-RequestId: {self._request_id}\r\nX-Timestamp: {_stamp()}\r\n"
            f"Content-Type: application/json; charset=utf-8\r\n\r\n{json.dumps(body)}"
        )
        if counted:
            await self._ex.send_str(self._ws, frame)
        else:
            await self._ws.send_str(frame)

    async def binary(self, path: str, payload: bytes, **extra: str) -> None:
        lines = [f"Path: {path}", f"X-RequestId: {self._request_id}", f"X-Timestamp: {_stamp()}"]
        lines += [f"{name}: {value}" for name, value in extra.items()]
        head = "\r\n".join(lines).encode()
        await self._ex.send_bytes(self._ws, struct.pack(">H", len(head)) + head + payload)


class SttSession(_Usp):
    """Recognition: audio in, startDetected / hypothesis / phrase / endDetected out."""

    def __init__(
        self, ws: web.WebSocketResponse, exchange: Exchange, script: list[str], once: bool
    ) -> None:
        super().__init__(ws, exchange)
        self._script, self._once = script, once
        self._detector: UtteranceDetector | None = None
        self._utterances = 0
        self._turn = False

    async def run(self) -> None:
        """Serve until the client closes the socket."""
        async for msg in self._ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return
            try:
                headers, payload = parse_frame(msg.data)
            except BadInput:
                continue
            self._request_id = headers.get("x-requestid", self._request_id)
            if headers.get("path") == "audio" and await self._audio(payload):
                return

    async def _audio(self, payload: bytes) -> bool:
        if not self._turn:
            self._turn = True
            await self.text("turn.start", {"context": {"serviceTag": uuid.uuid4().hex}})
        if self._detector is None:
            rate = 16000
            if payload.startswith(b"RIFF") and len(payload) >= 28:
                rate = struct.unpack_from("<I", payload, 24)[0]
                payload = payload[payload.find(b"data") + 8 :] if b"data" in payload else b""
            self._detector = UtteranceDetector(rate, 500, None)
            if not payload:
                return False
        if not payload:  # end of audio
            if self._detector.active is not None:
                await self._phrase(self._detector.close())
            elif self._utterances == 0:
                await self.text(
                    "speech.phrase",
                    {"RecognitionStatus": "InitialSilenceTimeout", "Offset": 0, "Duration": 0},
                )
            await self.text("turn.end", {})
            return True
        for event in self._detector.feed(decode(payload, "pcm16")):
            seg = event.segment
            if event.kind == "started":
                await self.text("speech.startDetected", {"Offset": int(seg.start * TICKS)})
            elif event.kind == "interim":
                words = self._phrase_text().split()
                shown = max(1, min(len(words), int((seg.now - seg.start) / 0.3)))
                await self.text(
                    "speech.hypothesis",
                    {
                        "Text": " ".join(words[:shown]),
                        "Offset": int(seg.start * TICKS),
                        "Duration": int((seg.now - seg.start) * TICKS),
                    },
                )
            elif event.kind == "ended":
                await self._phrase(seg)
                if self._once:
                    await self.text("turn.end", {})
                    self._turn = False
        return False

    def _phrase_text(self) -> str:
        return self._script[self._utterances % len(self._script)]

    async def _phrase(self, seg: Segment) -> None:
        text = self._phrase_text()
        self._utterances += 1
        offset, duration = int(seg.start * TICKS), int((seg.last_voiced - seg.start) * TICKS)
        await self.text("speech.endDetected", {"Offset": int(seg.last_voiced * TICKS)})
        lexical = " ".join(w.lower().strip(",.?!") for w, _, _ in word_timings(text))
        await self.text(
            "speech.phrase",
            {
                "RecognitionStatus": "Success",
                "DisplayText": text,
                "Offset": offset,
                "Duration": duration,
                "NBest": [
                    {
                        "Confidence": 0.99,
                        "Lexical": lexical,
                        "ITN": lexical,
                        "MaskedITN": lexical,
                        "Display": text,
                    }
                ],
            },
        )


class TtsSession(_Usp):
    """Synthesis: speech.config, synthesis.context, ssml in; audio frames out."""

    def __init__(self, ws: web.WebSocketResponse, exchange: Exchange, fmt_parser: Any) -> None:
        super().__init__(ws, exchange)
        self._fmt_parser = fmt_parser
        self._format = "riff-16khz-16bit-mono-pcm"

    async def run(self) -> None:
        """Serve synthesis turns until the client closes the socket."""
        async for msg in self._ws:
            if msg.type != WSMsgType.TEXT:
                return
            headers, payload = parse_frame(msg.data)
            self._request_id = headers.get("x-requestid", self._request_id)
            path = headers.get("path")
            if path == "synthesis.context":
                try:
                    context = json.loads(payload)
                    self._format = context["synthesis"]["audio"]["outputFormat"]
                except (ValueError, KeyError, TypeError):
                    pass
            elif path == "ssml":
                await self._synthesize(payload)

    async def _synthesize(self, ssml: bytes) -> None:
        await self.text("turn.start", {"context": {"serviceTag": uuid.uuid4().hex}}, counted=False)
        try:
            encoding, rate, _riff = self._fmt_parser(self._format)
            root = ET.fromstring(ssml)  # noqa: S314 - local test input
            text = " ".join("".join(root.itertext()).split())
        except (BadInput, ET.ParseError) as exc:
            await self.text("turn.end", {"error": str(exc)}, counted=False)
            return
        stream_id = uuid.uuid4().hex
        await self.text(
            "response",
            {
                "context": {"serviceTag": uuid.uuid4().hex},
                "audio": {"type": "inline", "streamId": stream_id},
            },
        )
        samples = tone(text, rate)
        audio = encode(samples, encoding) if text else b""
        for chunk in chunk_bytes(audio, rate, encoding):
            await self.binary(
                "audio", chunk, **{"X-StreamId": stream_id, "Content-Type": "audio/x-wav"}
            )
        offset = int(len(samples) / rate * TICKS)
        await self.text(
            "audio.metadata",
            {"Metadata": [{"Type": "SessionEnd", "Data": {"Offset": offset}}]},
            counted=False,
        )
        await self.text("turn.end", {}, counted=False)
