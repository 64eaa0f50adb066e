"""ElevenLabs emulator: TTS over websockets and HTTP, user / voices / models.

Auth is the ``xi-api-key`` header (the websockets also take ``?authorization=`` or a key in
the first message). A bad key gets 401 ``{"detail": {"status": "invalid_api_key", …}}``; on a
websocket upgrade that carries a bad key in the header the same 401 refuses the handshake.
A key registered with ``restricted: true`` works for TTS but ``GET /v1/user`` answers 401
``missing_permissions``, like a scoped key without ``user_read``.
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from ._audio import chunk_bytes, encode, text_chunks, tone
from ._base import Emulator, exchange_of, public, read_json_object, websocket_response
from ._core import BadInput
from ._elevenlabs_ws import OutputFormat, TtsSocket

__all__ = ["ElevenLabsEmulator"]

VOICES = (
    ("21m00Tcm4TlvDq8ikWAM", "Rachel"),
    ("EXAVITQu4vr4xnSDxMaL", "Sarah"),
    ("pNInz6obpgDQGcFmaJgB", "Adam"),
)
MODELS = ("eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_multilingual_v2")
_FAULTS = {
    401: ("invalid_api_key", "Invalid API key"),
    403: (
        "missing_permissions",
        "The API key you used is missing the permission to execute this operation.",
    ),
    429: ("too_many_concurrent_requests", "Too many concurrent requests."),
    500: ("internal_error", "An internal server error occurred."),
    503: ("service_unavailable", "The service is temporarily unavailable."),
}


def detail_error(status: int, code: str, message: str) -> web.Response:
    """ElevenLabs' ``{"detail": {"status", "message"}}`` error body."""
    return web.json_response({"detail": {"status": code, "message": message}}, status=status)


def _output_format(request: web.Request) -> OutputFormat:
    value = request.query.get("output_format", "mp3_44100_128")
    fmt = OutputFormat.parse(value)
    if fmt is None:
        raise BadInput(
            f"output_format {value!r} is not produced by the emulator (pcm_*, ulaw_8000, alaw_8000)"
        )
    return fmt


def _alignment(text: str, rate: int, offset_s: float, samples: int) -> dict[str, Any]:
    step = samples / rate / max(1, len(text))
    return {
        "characters": list(text),
        "character_start_times_seconds": [round(offset_s + i * step, 3) for i in range(len(text))],
        "character_end_times_seconds": [
            round(offset_s + (i + 1) * step, 3) for i in range(len(text))
        ],
    }


class ElevenLabsEmulator(Emulator):
    """``/v1/text-to-speech/…`` (ws + HTTP), ``/v1/user``, ``/v1/voices``, ``/v1/models``."""

    provider: ClassVar[str] = "elevenlabs"
    inactivity_timeout_s: ClassVar[float] = 20.0

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """ElevenLabs' routes."""
        base = "/v1/text-to-speech/{voice_id}"
        router.add_get(base + "/multi-stream-input", self.multi_stream_input)
        router.add_get(base + "/stream-input", self.stream_input)
        router.add_post(base, self.tts)
        router.add_post(base + "/stream", self.tts)
        router.add_post(base + "/with-timestamps", self.tts_with_timestamps)
        router.add_post(base + "/stream/with-timestamps", self.tts_stream_with_timestamps)
        router.add_get("/v1/user", self.user)
        router.add_get("/v1/user/subscription", self.subscription)
        router.add_get("/v1/voices", self.voices)
        router.add_get("/v1/models", self.models)

    def extract_key(self, request: web.Request) -> str | None:
        """``xi-api-key`` header, else ``?authorization=`` / ``?xi_api_key=`` on websockets."""
        return (
            request.headers.get("xi-api-key")
            or request.query.get("authorization")
            or request.query.get("xi_api_key")
        )

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """401 ``invalid_api_key`` (or ``missing_api_key`` without any key)."""
        if not presented:
            return detail_error(401, "missing_api_key", "Missing API key")
        return detail_error(401, *_FAULTS[401])

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """ElevenLabs-shaped error for an injected status."""
        return detail_error(status, *_FAULTS[status])

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """400 with a detail body."""
        return detail_error(400, "invalid_request", message)

    # ----- websockets -------------------------------------------------------------------

    async def multi_stream_input(self, request: web.Request) -> web.StreamResponse:
        """Multi-context TTS websocket (what pipecat uses)."""
        return await self._tts_socket(request, multi=True)

    @public
    async def stream_input(self, request: web.Request) -> web.StreamResponse:
        """Single-context TTS websocket; the key may arrive in the first message."""
        return await self._tts_socket(request, multi=False)

    async def _tts_socket(self, request: web.Request, *, multi: bool) -> web.StreamResponse:
        fmt = _output_format(request)
        exchange = exchange_of(request)
        if exchange.record.key_id is None and self.extract_key(request):
            return self.auth_error(request, self.extract_key(request))
        try:
            inactivity = float(request.query.get("inactivity_timeout", self.inactivity_timeout_s))
        except ValueError as exc:
            raise BadInput("inactivity_timeout must be a number") from exc
        ws = websocket_response()
        if not ws.can_prepare(request).ok:
            raise BadInput("this endpoint is a websocket")
        await exchange.upgrade(ws)
        self.track(ws)
        try:
            first: dict[str, Any] | None = None
            if exchange.key is None:
                first = await self._first_message_auth(ws, exchange)
                if first is None:
                    return ws
            socket = TtsSocket(ws, exchange, fmt, multi=multi, inactivity_s=min(inactivity, 180.0))
            await socket.run(first)
        finally:
            self.untrack(ws)
        return ws

    async def _first_message_auth(
        self, ws: web.WebSocketResponse, exchange: Any
    ) -> dict[str, Any] | None:
        """Read the BOS message and authenticate its ``xi_api_key``; None if refused."""
        msg = await ws.receive(timeout=self.inactivity_timeout_s)
        message: dict[str, Any] | None = None
        if msg.type == WSMsgType.TEXT:
            try:
                message = json.loads(msg.data)
            except ValueError:
                message = None
        if not isinstance(message, dict):
            message = {}
        presented = message.pop("xi_api_key", None) or message.pop("xi-api-key", None)
        key = self.keys.lookup(presented if isinstance(presented, str) else None)
        if key is None:
            body = {"message": "Invalid API key", "error": "invalid_api_key", "code": 1008}
            await ws.send_str(json.dumps(body))
            await ws.close(code=1008, message=b"Invalid API key")
            return None
        exchange.key = key
        exchange.record.key_id = key.key_id
        return message

    # ----- HTTP TTS ---------------------------------------------------------------------

    @staticmethod
    async def _text(request: web.Request) -> str:
        body = await read_json_object(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadInput("text must be a non-empty string")
        return text

    async def tts(self, request: web.Request) -> web.StreamResponse:
        """Raw audio, streamed in chunks."""
        fmt = _output_format(request)
        text = await self._text(request)
        audio = encode(tone(text, fmt.rate), fmt.encoding)
        exchange = exchange_of(request)
        response = web.StreamResponse(
            headers={"Content-Type": "audio/basic" if fmt.encoding != "pcm16" else "audio/pcm"}
        )
        await exchange.prepare(response)
        for chunk in chunk_bytes(audio, fmt.rate, fmt.encoding):
            await exchange.write(response, chunk)
        await response.write_eof()
        return response

    async def tts_with_timestamps(self, request: web.Request) -> web.Response:
        """One JSON object with base64 audio and character alignment."""
        fmt = _output_format(request)
        text = await self._text(request)
        samples = tone(text, fmt.rate)
        alignment = _alignment(text, fmt.rate, 0.0, len(samples))
        body = {
            "audio_base64": base64.b64encode(encode(samples, fmt.encoding)).decode(),
            "alignment": alignment,
            "normalized_alignment": alignment,
        }
        return web.json_response(body)

    async def tts_stream_with_timestamps(self, request: web.Request) -> web.StreamResponse:
        """Newline-delimited JSON chunks, as the pipecat HTTP service reads them."""
        fmt = _output_format(request)
        text = await self._text(request)
        exchange = exchange_of(request)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await exchange.prepare(response)
        for chars, start, samples in text_chunks(text, fmt.rate, chars_per_chunk=10):
            alignment = _alignment(chars, fmt.rate, start, len(samples))
            line = {
                "audio_base64": base64.b64encode(encode(samples, fmt.encoding)).decode(),
                "alignment": alignment,
                "normalized_alignment": alignment,
            }
            await exchange.write(response, (json.dumps(line) + "\n").encode())
        await response.write_eof()
        return response

    # ----- account ----------------------------------------------------------------------

    def _subscription(self) -> dict[str, Any]:
        return {
            "tier": "creator",
            "character_count": 0,
            "character_limit": 100000,
            "max_credit_limit_extension": 0,
            "can_extend_character_limit": False,
            "allowed_to_extend_character_limit": False,
            "voice_slots_used": 0,
            "professional_voice_slots_used": 0,
            "professional_voice_slots_used_in_workspace": 0,
            "voice_limit": 30,
            "voice_add_edit_counter": 0,
            "professional_voice_limit": 1,
            "can_extend_voice_limit": False,
            "can_use_instant_voice_cloning": True,
            "can_use_professional_voice_cloning": True,
            "currency": "usd",
            "current_overage": {"amount": "0", "currency": "usd"},
            "status": "active",
        }

    async def user(self, request: web.Request) -> web.Response:
        """Account details; restricted keys get 401 ``missing_permissions``."""
        key = exchange_of(request).key
        if key is not None and key.extra.get("restricted"):
            return detail_error(
                401,
                "missing_permissions",
                "The API key you used is missing the permission user_read to execute this "
                "operation.",
            )
        return web.json_response(
            {
                "user_id": "emulated-user",
                "workspace_id": "emulated-workspace",
                "subscription": self._subscription(),
                "is_new_user": False,
                "xi_api_key": None,
                "can_use_delayed_payment_methods": False,
                "is_onboarding_completed": True,
                "is_onboarding_checklist_completed": True,
                "created_at": 1735689600,
                "seat_type": "workspace_admin",
                "first_name": "Emulated",
            }
        )

    async def subscription(self, request: web.Request) -> web.Response:
        """The subscription block alone."""
        return web.json_response(self._subscription())

    async def voices(self, request: web.Request) -> web.Response:
        """A fixed voice list."""
        voices = [
            {"voice_id": vid, "name": name, "category": "premade", "labels": {}}
            for vid, name in VOICES
        ]
        return web.json_response({"voices": voices, "has_more": False, "total_count": len(voices)})

    async def models(self, request: web.Request) -> web.Response:
        """A fixed model list (a bare JSON array, as the API returns it)."""
        return web.json_response(
            [{"model_id": m, "name": m, "can_do_text_to_speech": True} for m in MODELS]
        )
