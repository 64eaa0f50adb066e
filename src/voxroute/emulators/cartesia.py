"""Cartesia emulator: TTS websocket, ``/tts/bytes``, voices and the status probe.

Keys are accepted as ``X-API-Key``, ``Authorization: Bearer`` or ``?api_key=`` (old SDKs);
a bad key is refused with 401 on the websocket upgrade (provider-protocols.md §4).
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from ._audio import encode, text_chunks, tone, wav_header
from ._base import Emulator, exchange_of, public, read_json_object, websocket_response
from ._core import BadInput, Exchange

__all__ = ["CartesiaEmulator"]

API_VERSION = "2026-03-01"
ENCODINGS = {"pcm_s16le": "pcm16", "pcm_f32le": "f32", "pcm_mulaw": "mulaw", "pcm_alaw": "alaw"}
RATES = (8000, 16000, 22050, 24000, 44100, 48000)
_FAULTS = {
    401: "Invalid API key",
    403: "Forbidden",
    429: "Rate limit exceeded",
    500: "Internal server error",
    503: "Service unavailable",
}


def cartesia_error(status: int, message: str) -> web.Response:
    """Cartesia's REST error body (exact shape unverified; title + message + status)."""
    body = {
        "error": message,
        "message": message,
        "status_code": status,
        "request_id": str(uuid.uuid4()),
    }
    return web.json_response(body, status=status)


@dataclass(frozen=True)
class _Format:
    container: str
    encoding: str
    rate: int

    @classmethod
    def parse(cls, raw: object) -> _Format:
        if not isinstance(raw, dict):
            raise BadInput("output_format must be an object")
        container = raw.get("container", "raw")
        encoding = raw.get("encoding")
        rate = raw.get("sample_rate")
        if container not in ("raw", "wav"):
            raise BadInput(f"container {container!r} is not produced by the emulator (raw|wav)")
        if encoding not in ENCODINGS:
            raise BadInput(f"encoding must be one of {sorted(ENCODINGS)}")
        if rate not in RATES:
            raise BadInput(f"sample_rate must be one of {list(RATES)}")
        return cls(container, ENCODINGS[encoding], rate)


class CartesiaEmulator(Emulator):
    """``/tts/websocket``, ``/tts/bytes``, ``/voices``, ``/``."""

    provider: ClassVar[str] = "cartesia"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Cartesia's routes."""
        router.add_get("/tts/websocket", self.websocket)
        router.add_post("/tts/bytes", self.tts_bytes)
        router.add_get("/voices", self.voices)
        router.add_get("/voices/", self.voices)
        router.add_get("/", self.status)

    def extract_key(self, request: web.Request) -> str | None:
        """``X-API-Key``, ``Authorization: Bearer`` or ``?api_key=``."""
        if request.headers.get("X-API-Key"):
            return request.headers["X-API-Key"]
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return request.query.get("api_key")

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """401, also on the websocket upgrade."""
        return cartesia_error(401, "Invalid API key" if presented else "Missing API key")

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """Injected status with Cartesia's error body."""
        return cartesia_error(status, _FAULTS[status])

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """400 with Cartesia's error body."""
        return cartesia_error(400, message)

    @public
    async def status(self, request: web.Request) -> web.Response:
        """Status probe; needs no key."""
        return web.json_response({"ok": True, "version": API_VERSION})

    async def voices(self, request: web.Request) -> web.Response:
        """A one-page voice list."""
        voice = {
            "id": "a0e99841-438c-4a64-b679-ae501e7d6091",
            "name": "Emulated Voice",
            "description": "Deterministic tone",
            "language": "en",
            "is_public": True,
            "created_at": "2026-01-01T00:00:00Z",
        }
        return web.json_response({"data": [voice], "has_more": False, "next_page": None})

    async def tts_bytes(self, request: web.Request) -> web.StreamResponse:
        """The whole audio of one transcript."""
        body = await read_json_object(request)
        transcript = body.get("transcript")
        if not isinstance(transcript, str) or not transcript.strip():
            raise BadInput("transcript must be a non-empty string")
        if not isinstance(body.get("model_id"), str):
            raise BadInput("model_id is required")
        fmt = _Format.parse(body.get("output_format"))
        audio = encode(tone(transcript, fmt.rate), fmt.encoding)
        if fmt.container == "wav":
            audio = wav_header(fmt.rate, fmt.encoding, len(audio)) + audio
        return web.Response(
            body=audio,
            content_type="audio/wav" if fmt.container == "wav" else "application/octet-stream",
        )

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """Contexts of continued transcripts; chunk / timestamps / flush_done / done."""
        ws = websocket_response()
        if not ws.can_prepare(request).ok:
            raise BadInput("/tts/websocket is a websocket")
        exchange = exchange_of(request)
        await exchange.upgrade(ws)
        self.track(ws)
        try:
            await _Session(ws, exchange).run()
        finally:
            self.untrack(ws)
        return ws


@functools.lru_cache(maxsize=64)
def _encoded_chunks(text: str, rate: int, encoding: str) -> tuple[tuple[str, int], ...]:
    """(base64 audio, sample count) of each websocket chunk of ``text``, cached.

    A voice bot says the same few sentences on every call, so each is synthesised and
    encoded only once.
    """
    return tuple(
        (base64.b64encode(encode(samples, encoding)).decode(), len(samples))
        for _chars, _start, samples in text_chunks(text, rate, chars_per_chunk=10)
    )


class _Session:
    def __init__(self, ws: web.WebSocketResponse, exchange: Exchange) -> None:
        self._ws, self._ex = ws, exchange
        self._flush_ids: dict[str, int] = {}
        self._cancelled: set[str] = set()
        self._elapsed: dict[str, float] = {}

    async def _send(self, message: dict[str, Any]) -> None:
        await self._ex.send_str(self._ws, json.dumps(message))

    async def _fail(self, context_id: object, message: str) -> None:
        await self._send(
            {
                "type": "error",
                "done": True,
                "title": "Invalid request",
                "message": message,
                "error_code": "invalid_request",
                "status_code": 400,
                "context_id": context_id if isinstance(context_id, str) else "",
                "request_id": str(uuid.uuid4()),
            }
        )

    async def run(self) -> None:
        async for msg in self._ws:
            if msg.type != WSMsgType.TEXT:
                return
            try:
                request = json.loads(msg.data)
            except ValueError:
                request = None
            if not isinstance(request, dict):
                await self._fail(None, "Messages must be JSON objects.")
                continue
            await self._handle(request)

    async def _handle(self, request: dict[str, Any]) -> None:
        context_id = request.get("context_id") or str(uuid.uuid4())
        if not isinstance(context_id, str):
            await self._fail(None, "context_id must be a string")
            return
        if request.get("cancel") is True:
            self._cancelled.add(context_id)
            return
        self._cancelled.discard(context_id)
        transcript = request.get("transcript", "")
        try:
            fmt = _Format.parse(request.get("output_format"))
            if not isinstance(transcript, str) or not isinstance(request.get("model_id"), str):
                raise BadInput("transcript and model_id must be strings")
        except BadInput as exc:
            await self._fail(context_id, str(exc))
            return
        if transcript.strip():
            await self._speak(context_id, transcript, fmt, bool(request.get("add_timestamps")))
        if request.get("flush") is True:
            flush_id = self._flush_ids.get(context_id, 0) + 1
            self._flush_ids[context_id] = flush_id
            await self._send(
                {
                    "type": "flush_done",
                    "done": False,
                    "flush_done": True,
                    "flush_id": flush_id,
                    "status_code": 206,
                    "context_id": context_id,
                }
            )
        if request.get("continue", False) is not True:
            await self._send(
                {"type": "done", "done": True, "status_code": 206, "context_id": context_id}
            )

    async def _speak(self, context_id: str, text: str, fmt: _Format, timestamps: bool) -> None:
        base = offset = self._elapsed.get(context_id, 0.0)
        for data, samples in _encoded_chunks(text, fmt.rate, fmt.encoding):
            if context_id in self._cancelled:
                return
            await self._send(
                {
                    "type": "chunk",
                    "data": data,
                    "done": False,
                    "status_code": 206,
                    "step_time": 1.0,
                    "context_id": context_id,
                    "flush_id": self._flush_ids.get(context_id, 0) + 1,
                }
            )
            offset += samples / fmt.rate
        self._elapsed[context_id] = offset
        if timestamps:
            words = text.split()
            step = (offset - base) / max(1, len(words))
            await self._send(
                {
                    "type": "timestamps",
                    "done": False,
                    "status_code": 206,
                    "context_id": context_id,
                    "word_timestamps": {
                        "words": words,
                        "start": [round(base + i * step, 3) for i in range(len(words))],
                        "end": [round(base + (i + 1) * step, 3) for i in range(len(words))],
                    },
                }
            )
