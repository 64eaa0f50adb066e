"""Deepgram emulator: live STT websocket, Aura TTS (REST and websocket), project listing.

Auth is ``Authorization: Token <key>`` (``Bearer`` accepted too) or the browser form
``Sec-WebSocket-Protocol: token, <key>``. A bad key is refused with 401 and Deepgram's
``INVALID_AUTH`` body, on the websocket upgrade as well (provider-protocols.md §1).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from ._audio import chunk_bytes, encode, tone, wav_header
from ._base import Emulator, exchange_of, read_json_object, websocket_response
from ._core import BadInput, Exchange
from ._deepgram_listen import ListenParams, ListenSession

__all__ = ["DeepgramEmulator"]

SPEAK_ENCODINGS = {"linear16": "pcm16", "mulaw": "mulaw", "alaw": "alaw"}
_ERRORS = {
    401: ("INVALID_AUTH", "Invalid credentials."),
    403: ("INSUFFICIENT_PERMISSIONS", "You do not have access to the requested resource."),
    429: ("TOO_MANY_REQUESTS", "Too many requests. Please try again later."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
}


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"err_code": code, "err_msg": message, "request_id": str(uuid.uuid4())}
    return web.json_response(body, status=status)


def _speak_format(query: Any, *, rest: bool) -> tuple[str, int, bool]:
    """(encoding, sample_rate, wav container) of a speak request."""
    raw = query.get("encoding", "linear16")
    if raw not in SPEAK_ENCODINGS:
        raise BadInput(f"encoding {raw!r} is not supported by the emulator (linear16|mulaw|alaw)")
    encoding = SPEAK_ENCODINGS[raw]
    default_rate = 24000 if encoding == "pcm16" else 8000
    try:
        rate = int(query.get("sample_rate", default_rate))
    except ValueError as exc:
        raise BadInput("sample_rate must be an integer") from exc
    if rate not in (8000, 16000, 22050, 24000, 32000, 48000):
        raise BadInput(f"sample_rate {rate} is not supported")
    container = query.get("container", "wav" if rest else "none")
    if container not in ("none", "wav") or (container == "wav" and not rest):
        raise BadInput(f"container {container!r} is not supported here")
    return encoding, rate, container == "wav"


class DeepgramEmulator(Emulator):
    """``/v1/listen`` (ws), ``/v1/speak`` (REST + ws), ``/v1/projects``."""

    provider: ClassVar[str] = "deepgram"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Deepgram's routes."""
        router.add_get("/v1/listen", self.listen)
        router.add_post("/v1/speak", self.speak_rest)
        router.add_get("/v1/speak", self.speak_ws)
        router.add_get("/v1/projects", self.projects)

    def extract_key(self, request: web.Request) -> str | None:
        """``Token``/``Bearer`` header, else the ``token, <key>`` subprotocol pair."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip():
            return value.strip()
        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
        ]
        if len(protocols) == 2 and protocols[0].lower() == "token":
            return protocols[1]
        return None

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """401 INVALID_AUTH, as on the real upgrade and REST paths."""
        return _error(401, *_ERRORS[401])

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """Deepgram's ``{err_code, err_msg, request_id}`` shape."""
        return _error(status, *_ERRORS[status])

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """400 on bad query parameters or body."""
        return _error(400, "Bad Request", message)

    async def listen(self, request: web.Request) -> web.StreamResponse:
        """Live transcription over a websocket."""
        params = ListenParams.from_query(request.query)
        ws = self._websocket(request)
        if not ws.can_prepare(request).ok:
            raise BadInput("the emulator serves /v1/listen as a websocket only")
        exchange = exchange_of(request)
        await exchange.upgrade(ws)
        self.track(ws)
        try:
            await ListenSession(ws, exchange, params, list(self.script)).run()
        finally:
            self.untrack(ws)
        return ws

    async def speak_rest(self, request: web.Request) -> web.StreamResponse:
        """Aura REST: stream the tone for ``text`` in the requested encoding."""
        encoding, rate, wav = _speak_format(request.query, rest=True)
        body = await read_json_object(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadInput("text must be a non-empty string")
        audio = encode(tone(text, rate), encoding)
        exchange = exchange_of(request)
        response = web.StreamResponse(
            headers={
                "Content-Type": "audio/wav"
                if wav
                else f"audio/{'l16' if encoding == 'pcm16' else encoding}",
                "dg-request-id": str(uuid.uuid4()),
                "dg-model-name": request.query.get("model", "aura-2-thalia-en"),
                "dg-char-count": str(len(text)),
            }
        )
        await exchange.prepare(response)
        if wav:
            await exchange.write(response, wav_header(rate, encoding, len(audio)))
        for chunk in chunk_bytes(audio, rate, encoding):
            await exchange.write(response, chunk)
        await response.write_eof()
        return response

    async def speak_ws(self, request: web.Request) -> web.StreamResponse:
        """Aura websocket: Speak / Flush / Clear / Close."""
        encoding, rate, _ = _speak_format(request.query, rest=False)
        ws = self._websocket(request)
        if not ws.can_prepare(request).ok:
            raise BadInput("GET /v1/speak must be a websocket upgrade")
        exchange = exchange_of(request)
        await exchange.upgrade(ws)
        self.track(ws)
        try:
            await _SpeakSession(ws, exchange, encoding, rate, request.query.get("model", "")).run()
        finally:
            self.untrack(ws)
        return ws

    async def projects(self, request: web.Request) -> web.Response:
        """The key check endpoint: one project per key."""
        key = exchange_of(request).key
        key_id = key.key_id if key else "none"
        project_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"deepgram-emulator/{key_id}"))
        return web.json_response({"projects": [{"project_id": project_id, "name": "Emulated"}]})

    @staticmethod
    def _websocket(request: web.Request) -> web.WebSocketResponse:
        subprotocol = "token" in request.headers.get("Sec-WebSocket-Protocol", "").lower()
        return websocket_response(("token",) if subprotocol else ())


class _SpeakSession:
    """One Aura websocket: text accumulates until Flush, then audio and ``Flushed``."""

    def __init__(
        self, ws: web.WebSocketResponse, exchange: Exchange, encoding: str, rate: int, model: str
    ) -> None:
        self._ws, self._ex, self._encoding, self._rate = ws, exchange, encoding, rate
        self._model = model or "aura-2-thalia-en"
        self._text: list[str] = []
        self._sequence = 0

    async def _json(self, message: dict[str, Any]) -> None:
        await self._ws.send_str(json.dumps(message))

    async def run(self) -> None:
        """Serve until Close or the client goes away."""
        await self._json(
            {
                "type": "Metadata",
                "request_id": str(uuid.uuid4()),
                "model_name": self._model,
                "model_version": "2025-04-07.0",
                "model_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, self._model)),
            }
        )
        async for msg in self._ws:
            if msg.type != WSMsgType.TEXT:
                break
            try:
                message = json.loads(msg.data)
                kind = message.get("type") if isinstance(message, dict) else None
            except ValueError:
                kind = None
            if kind == "Speak" and isinstance(message.get("text"), str):
                self._text.append(message["text"])
            elif kind == "Flush":
                await self._flush()
            elif kind == "Clear":
                self._text.clear()
                await self._json({"type": "Cleared", "sequence_id": self._sequence})
            elif kind == "Close":
                await self._flush()
                await self._ws.close(code=1000)
                return
            else:
                await self._json(
                    {
                        "type": "Warning",
                        "code": "INVALID_MESSAGE",
                        "description": "Expected Speak, Flush, Clear or Close.",
                    }
                )

    async def _flush(self) -> None:
        text = "".join(self._text)
        self._text.clear()
        if text.strip():
            audio = encode(tone(text, self._rate), self._encoding)
            for chunk in chunk_bytes(audio, self._rate, self._encoding):
                await self._ex.send_bytes(self._ws, chunk)
        await self._json({"type": "Flushed", "sequence_id": self._sequence})
        self._sequence += 1
