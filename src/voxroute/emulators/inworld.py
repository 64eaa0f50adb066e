"""Inworld TTS emulator: bidirectional websocket, HTTP synthesis (plain and streamed), voices.

Auth is ``Authorization: Basic <key>`` where the key is already Inworld's base64 credential
and is compared as-is. LINEAR16 audio chunks start with a 44-byte WAV header, as the real
service sends them (pipecat strips it). Errors use the gRPC-style ``{"code", "message"}``
body (the real bad-key body is unverified).
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from ._audio import encode, speech_duration_s, text_chunks, tone, wav_header
from ._base import Emulator, exchange_of, read_json_object, websocket_response
from ._core import BadInput, Exchange

__all__ = ["InworldEmulator"]

ENCODINGS = {"LINEAR16": "pcm16", "PCM": "pcm16", "MULAW": "mulaw", "ALAW": "alaw"}
MAX_CONTEXTS = 5
_FAULTS = {
    401: (16, "UNAUTHENTICATED", "Invalid authorization credentials"),
    403: (7, "PERMISSION_DENIED", "Permission denied"),
    429: (8, "RESOURCE_EXHAUSTED", "Too many requests"),
    500: (13, "INTERNAL", "Internal error"),
    503: (14, "UNAVAILABLE", "Service unavailable"),
}


def inworld_error(status: int, code: int, name: str, message: str) -> web.Response:
    """gRPC-gateway style error body."""
    return web.json_response(
        {
            "code": code,
            "message": message,
            "details": [],
            "error": {"code": status, "status": name, "message": message},
        },
        status=status,
    )


def _audio_config(raw: object) -> tuple[str, int, bool]:
    """(encoding, rate, wav header) from an ``audioConfig`` object."""
    config = raw if isinstance(raw, dict) else {}
    name = config.get("audioEncoding", "LINEAR16")
    rate = config.get("sampleRateHertz", 48000)
    if name not in ENCODINGS:
        raise BadInput(f"audioEncoding {name!r} is not produced by the emulator")
    if rate not in (8000, 16000, 22050, 24000, 32000, 44100, 48000):
        raise BadInput("sampleRateHertz is not supported")
    return ENCODINGS[name], rate, name == "LINEAR16"


def _chunk_result(text: str, encoding: str, rate: int, header: bool) -> list[dict[str, Any]]:
    results = []
    for chars, start, samples in text_chunks(text, rate, chars_per_chunk=20):
        audio = encode(samples, encoding)
        if header:
            audio = wav_header(rate, encoding, len(audio)) + audio
        words = chars.split()
        step = len(samples) / rate / max(1, len(words))
        results.append(
            {
                "audioContent": base64.b64encode(audio).decode(),
                "timestampInfo": {
                    "wordAlignment": {
                        "words": words,
                        "wordStartTimeSeconds": [
                            round(start + i * step, 3) for i in range(len(words))
                        ],
                        "wordEndTimeSeconds": [
                            round(start + (i + 1) * step, 3) for i in range(len(words))
                        ],
                    }
                },
            }
        )
    return results


class InworldEmulator(Emulator):
    """``/tts/v1/voice``, ``/tts/v1/voice:stream``, ``:streamBidirectional``, ``/tts/v1/voices``."""

    provider: ClassVar[str] = "inworld"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Inworld's routes (``:`` is part of the path)."""
        router.add_post("/tts/v1/voice", self.synthesize)
        router.add_post("/tts/v1/voice:stream", self.synthesize_stream)
        router.add_get("/tts/v1/voice:streamBidirectional", self.bidirectional)
        router.add_get("/tts/v1/voices", self.voices)

    def extract_key(self, request: web.Request) -> str | None:
        """``Authorization: Basic <key>``, the key taken verbatim."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        return value.strip() or None

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """401 UNAUTHENTICATED."""
        return inworld_error(401, *_FAULTS[401])

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """Injected status."""
        return inworld_error(status, *_FAULTS[status])

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """400 INVALID_ARGUMENT."""
        return inworld_error(400, 3, "INVALID_ARGUMENT", message)

    async def voices(self, request: web.Request) -> web.Response:
        """A fixed voice list."""
        return web.json_response(
            {
                "voices": [
                    {"voiceId": "Ashley", "displayName": "Ashley", "languages": ["en"]},
                    {"voiceId": "Dennis", "displayName": "Dennis", "languages": ["en"]},
                ]
            }
        )

    @staticmethod
    async def _parse(request: web.Request) -> tuple[str, str, int, bool]:
        body = await read_json_object(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadInput("text must be a non-empty string")
        if not isinstance(body.get("voiceId"), str):
            raise BadInput("voiceId is required")
        return (text, *_audio_config(body.get("audioConfig")))

    async def synthesize(self, request: web.Request) -> web.Response:
        """Whole audio as base64 ``audioContent``."""
        text, encoding, rate, header = await self._parse(request)
        audio = encode(tone(text, rate), encoding)
        if header:
            audio = wav_header(rate, encoding, len(audio)) + audio
        words = text.split()
        step = speech_duration_s(text) / max(1, len(words))
        return web.json_response(
            {
                "audioContent": base64.b64encode(audio).decode(),
                "timestampInfo": {
                    "wordAlignment": {
                        "words": words,
                        "wordStartTimeSeconds": [i * step for i in range(len(words))],
                        "wordEndTimeSeconds": [(i + 1) * step for i in range(len(words))],
                    }
                },
            }
        )

    async def synthesize_stream(self, request: web.Request) -> web.StreamResponse:
        """Newline-delimited ``{"result": {...}}`` chunks."""
        text, encoding, rate, header = await self._parse(request)
        exchange = exchange_of(request)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await exchange.prepare(response)
        for result in _chunk_result(text, encoding, rate, header):
            await exchange.write(response, (json.dumps({"result": result}) + "\n").encode())
        await response.write_eof()
        return response

    async def bidirectional(self, request: web.Request) -> web.StreamResponse:
        """Contexts: create, send_text, flush_context, close_context."""
        ws = websocket_response()
        if not ws.can_prepare(request).ok:
            raise BadInput("this endpoint is a websocket")
        exchange = exchange_of(request)
        await exchange.upgrade(ws)
        self.track(ws)
        try:
            await _Bidirectional(ws, exchange).run()
        finally:
            self.untrack(ws)
        return ws


class _Bidirectional:
    def __init__(self, ws: web.WebSocketResponse, exchange: Exchange) -> None:
        self._ws, self._ex = ws, exchange
        self._contexts: dict[str, dict[str, Any]] = {}

    async def _result(self, context_id: str | None, **fields: Any) -> None:
        await self._ex.send_str(
            self._ws,
            json.dumps(
                {
                    "result": {
                        "contextId": context_id,
                        "status": {"code": 0, "message": ""},
                        **fields,
                    }
                }
            ),
        )

    async def _status(self, context_id: str | None, code: int, message: str) -> None:
        await self._ws.send_str(
            json.dumps(
                {"result": {"contextId": context_id, "status": {"code": code, "message": message}}}
            )
        )

    async def run(self) -> None:
        async for msg in self._ws:
            if msg.type != WSMsgType.TEXT:
                return
            try:
                message = json.loads(msg.data)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                await self._status(None, 3, "message must be a JSON object")
                continue
            await self._handle(message)

    async def _handle(self, message: dict[str, Any]) -> None:
        ctx_id = message.get("contextId")
        if "create" in message:
            if len(self._contexts) >= MAX_CONTEXTS:
                await self._status(ctx_id, 8, "too many open contexts (max 5)")
                return
            try:
                encoding, rate, header = _audio_config(
                    message["create"].get("audioConfig")
                    if isinstance(message["create"], dict)
                    else None
                )
            except BadInput as exc:
                await self._status(ctx_id, 3, str(exc))
                return
            ctx_id = ctx_id if isinstance(ctx_id, str) else f"ctx-{len(self._contexts) + 1}"
            self._contexts[ctx_id] = {
                "text": "",
                "encoding": encoding,
                "rate": rate,
                "header": header,
            }
            await self._result(ctx_id, contextCreated=message["create"])
            return
        if not isinstance(ctx_id, str):
            await self._status(None, 3, "context_id is required")
            return
        ctx = self._contexts.get(ctx_id)
        if ctx is None:
            await self._status(ctx_id, 5, f"Context {ctx_id} not found")
            return
        if isinstance(message.get("send_text"), dict):
            ctx["text"] += str(message["send_text"].get("text", ""))
        elif "flush_context" in message:
            await self._flush(ctx_id, ctx)
            await self._result(ctx_id, flushCompleted={})
        elif "close_context" in message:
            await self._flush(ctx_id, ctx)
            del self._contexts[ctx_id]
            await self._result(ctx_id, contextClosed={})

    async def _flush(self, ctx_id: str, ctx: dict[str, Any]) -> None:
        text, ctx["text"] = ctx["text"].strip(), ""
        if text:
            for chunk in _chunk_result(text, ctx["encoding"], ctx["rate"], ctx["header"]):
                await self._result(ctx_id, audioChunk=chunk)
