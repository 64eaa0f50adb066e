"""OpenAI emulator: chat completions (SSE and plain), model list, speech synthesis.

Auth is ``Authorization: Bearer <key>``. A bad key gets OpenAI's 401 ``invalid_api_key``
body (provider-protocols.md §3). Injected 5xx answers carry ``x-should-retry: false`` so the
official SDK does not retry them and tests stay deterministic.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from aiohttp import web

from . import _chat
from ._audio import chunk_bytes, encode, tone, wav_header
from ._base import Emulator, exchange_of, read_json_object
from ._core import BadInput

__all__ = ["OpenAIEmulator", "mask_key"]

MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini-tts", "tts-1")
SPEECH_RATE = 24000
_FAULTS: dict[int, tuple[str, str, str | None]] = {
    403: (
        "You are not allowed to access this resource.",
        "invalid_request_error",
        "permission_denied",
    ),
    429: (
        "Rate limit reached for requests. Please try again later.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
}


def mask_key(key: str) -> str:
    """The redacted form OpenAI-style errors show: a few leading and trailing characters."""
    return f"{key[:3]}***{key[-3:]}" if len(key) >= 10 else "***"


def openai_error(
    status: int, message: str, kind: str, code: str | None, param: str | None = None
) -> web.Response:
    """``{"error": {message, type, param, code}}`` with the given status."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    headers = {"x-request-id": "req_" + uuid.uuid4().hex}
    if status >= 500:
        headers["x-should-retry"] = "false"
    return web.json_response(body, status=status, headers=headers)


class OpenAIEmulator(Emulator):
    """``/v1/chat/completions``, ``/v1/models``, ``/v1/audio/speech``."""

    provider: ClassVar[str] = "openai"
    models: ClassVar[tuple[str, ...]] = MODELS

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """OpenAI's routes."""
        router.add_post("/v1/chat/completions", self.chat)
        router.add_get("/v1/models", self.list_models)
        router.add_get("/v1/models/{model}", self.get_model)
        router.add_post("/v1/audio/speech", self.speech)

    def extract_key(self, request: web.Request) -> str | None:
        """``Authorization: Bearer <key>``."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return value.strip() or None

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """401: no key at all, or ``invalid_api_key``."""
        if not presented:
            return openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                None,
            )
        return openai_error(
            401,
            f"Incorrect API key provided: {mask_key(presented)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """OpenAI-shaped error bodies for injected statuses."""
        if status == 401:
            return self.auth_error(request, "injected-fault-key")
        return openai_error(status, *_FAULTS[status])

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """400 ``invalid_request_error``."""
        return openai_error(400, message, "invalid_request_error", None)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """Chat completions, streamed as SSE when ``stream`` is true."""
        chat_request = _chat.ChatRequest.parse(await read_json_object(request))
        reply = _chat.plan_reply(chat_request)
        headers = {"x-request-id": "req_" + uuid.uuid4().hex, "openai-processing-ms": "1"}
        if not chat_request.stream:
            return web.json_response(_chat.completion(reply, chat_request), headers=headers)
        exchange = exchange_of(request)
        response = web.StreamResponse(
            headers={
                **headers,
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await exchange.prepare(response)
        for event in _chat.stream_events(reply, chat_request):
            await exchange.write(response, event.encode())
        await response.write_eof()
        return response

    async def list_models(self, request: web.Request) -> web.Response:
        """The key check endpoint."""
        return web.json_response({"object": "list", "data": [self._model(m) for m in self.models]})

    async def get_model(self, request: web.Request) -> web.Response:
        """One model, or 404 ``model_not_found``."""
        model = request.match_info["model"]
        if model not in self.models:
            return openai_error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        return web.json_response(self._model(model))

    @staticmethod
    def _model(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1721172741, "owned_by": "system"}

    async def speech(self, request: web.Request) -> web.StreamResponse:
        """Speech: raw 24 kHz s16le for ``pcm`` (or WAV); other formats are refused."""
        body = await read_json_object(request)
        text = body.get("input")
        if not isinstance(text, str) or not text.strip() or len(text) > 4096:
            raise BadInput("'input' must be a non-empty string of at most 4096 characters")
        if not isinstance(body.get("model"), str) or not isinstance(body.get("voice"), str | dict):
            raise BadInput("'model' and 'voice' are required")
        fmt = body.get("response_format", "mp3")
        if fmt not in ("pcm", "wav"):
            raise BadInput(f"response_format {fmt!r} is not produced by the emulator (pcm|wav)")
        audio = encode(tone(text, SPEECH_RATE), "pcm16")
        exchange = exchange_of(request)
        response = web.StreamResponse(
            headers={"Content-Type": "audio/pcm" if fmt == "pcm" else "audio/wav"}
        )
        await exchange.prepare(response)
        if fmt == "wav":
            await exchange.write(response, wav_header(SPEECH_RATE, "pcm16", len(audio)))
        for piece in chunk_bytes(audio, SPEECH_RATE, "pcm16"):
            await exchange.write(response, piece)
        await response.write_eof()
        return response
