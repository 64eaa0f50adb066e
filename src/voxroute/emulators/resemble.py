"""Resemble AI emulator: streaming TTS websocket and the voice list.

Auth is ``Authorization: Bearer <key>`` (the older ``Token token=<key>`` is accepted too).
A bad key on the websocket is refused with 401 on the upgrade (the real failure shape is
unverified, see provider-protocols.md §9).
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from ._audio import encode, text_chunks, wav_header
from ._base import Emulator, exchange_of, websocket_response
from ._core import BadInput, Exchange

__all__ = ["ResembleEmulator"]

PRECISION = {"PCM_16": "pcm16", "MULAW": "mulaw"}
_FAULTS = {
    401: "Invalid API token",
    403: "Forbidden",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def resemble_error(status: int, message: str) -> web.Response:
    """Resemble's REST error body."""
    return web.json_response({"success": False, "message": message}, status=status)


class ResembleEmulator(Emulator):
    """``/stream`` (ws) and ``/api/v2/voices``."""

    provider: ClassVar[str] = "resemble"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Resemble's routes."""
        router.add_get("/stream", self.stream)
        router.add_get("/api/v2/voices", self.voices)

    def extract_key(self, request: web.Request) -> str | None:
        """``Bearer <key>`` or ``Token token=<key>``."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() or None
        if scheme.lower() == "token" and value.startswith("token="):
            return value.removeprefix("token=").strip() or None
        return None

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """401."""
        return resemble_error(401, _FAULTS[401])

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """Injected status."""
        return resemble_error(status, _FAULTS[status])

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """400."""
        return resemble_error(400, message)

    async def voices(self, request: web.Request) -> web.Response:
        """One page of voices."""
        voice = {
            "uuid": "55592656",
            "name": "Emulated",
            "status": "finished",
            "default_language": "en-US",
            "voice_type": "rapid",
        }
        return web.json_response(
            {"success": True, "page": 1, "num_pages": 1, "page_size": 10, "items": [voice]}
        )

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """One synthesis per JSON request; ``audio`` messages then ``audio_end``."""
        ws = websocket_response()
        if not ws.can_prepare(request).ok:
            raise BadInput("/stream is a websocket")
        exchange = exchange_of(request)
        await exchange.upgrade(ws)
        self.track(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                await self._synthesize(ws, exchange, msg.data)
        finally:
            self.untrack(ws)
        return ws

    @staticmethod
    async def _synthesize(ws: web.WebSocketResponse, exchange: Exchange, data: str) -> None:
        try:
            req = json.loads(data)
        except ValueError:
            req = None
        problem = _validate(req)
        if problem is not None:
            request_id = req.get("request_id") if isinstance(req, dict) else None
            await ws.send_str(
                json.dumps(
                    {
                        "type": "error",
                        "request_id": request_id,
                        "error_name": "BadRequest",
                        "message": problem,
                        "status_code": 400,
                    }
                )
            )
            return
        assert isinstance(req, dict)
        encoding = PRECISION[req.get("precision", "PCM_16")]
        rate = int(req.get("sample_rate", 22050))
        header = req.get("output_format", "wav") == "wav" and not req.get("no_audio_header")
        pieces = text_chunks(req["data"], rate, chars_per_chunk=10)
        encoded = [encode(samples, encoding) for _, _, samples in pieces]
        if header and encoded:
            encoded[0] = wav_header(rate, encoding, sum(map(len, encoded))) + encoded[0]
        for (chars, start, samples), audio in zip(pieces, encoded, strict=True):
            step = len(samples) / rate / len(chars)
            stamps: dict[str, Any] = {
                "graph_chars": list(chars),
                "graph_times": [
                    [round(start + i * step, 3), round(start + (i + 1) * step, 3)]
                    for i in range(len(chars))
                ],
                "phon_chars": [],
                "phon_times": [],
            }
            await exchange.send_str(
                ws,
                json.dumps(
                    {
                        "type": "audio",
                        "request_id": req["request_id"],
                        "audio_content": base64.b64encode(audio).decode(),
                        "audio_timestamps": stamps,
                        "sample_rate": rate,
                    }
                ),
            )
        await ws.send_str(json.dumps({"type": "audio_end", "request_id": req["request_id"]}))


def _validate(req: object) -> str | None:
    if not isinstance(req, dict):
        return "Request must be a JSON object"
    if not isinstance(req.get("voice_uuid"), str) or not isinstance(req.get("data"), str):
        return "voice_uuid and data are required strings"
    if not req["data"].strip():
        return "data must not be empty"
    request_id = req.get("request_id")
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        return "request_id must be a number"
    if req.get("precision", "PCM_16") not in PRECISION:
        return f"precision must be one of {sorted(PRECISION)} in the emulator"
    if req.get("output_format", "wav") != "wav":
        return "output_format must be wav in the emulator"
    rate = req.get("sample_rate", 22050)
    if rate not in (8000, 16000, 22050, 24000, 32000, 44100, 48000):
        return "sample_rate is not supported"
    return None
