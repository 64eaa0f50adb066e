"""Azure Speech emulator (REST): token issuing, REST TTS and the voice list, for all regions.

One emulator serves every region by putting the region first in the path, where the real
service has it in the host name::

    https://{region}.api.cognitive.microsoft.com/sts/v1.0/issueToken
        → {base}/{region}/sts/v1.0/issueToken
    https://{region}.tts.speech.microsoft.com/cognitiveservices/v1
        → {base}/{region}/cognitiveservices/v1
    https://{region}.tts.speech.microsoft.com/cognitiveservices/voices/list
        → {base}/{region}/cognitiveservices/voices/list

Keys are registered with their region; a known key used in another region gets the same
401 as an unknown key ("invalid subscription key or wrong API endpoint"), as Azure answers.
``Authorization: Bearer <token>`` works with tokens this emulator issued for that region.

The native Speech SDK (STT and TTS) speaks USP over a websocket, served here too (see
:mod:`voxroute.emulators._usp` for the spike result)::

    SpeechConfig(subscription=KEY, endpoint=f"ws://{host}/{region}/speech/recognition/conversation/cognitiveservices/v1")
    SpeechConfig(subscription=KEY, endpoint=f"ws://{host}/{region}/cognitiveservices/websocket/v1")
    SpeechConfig(subscription=KEY, host=f"ws://{host}")   # no region in the path: any region

(pipecat's ``AzureSTTService``/``AzureTTSService(private_endpoint=…)`` pass such an endpoint.)
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import xml.etree.ElementTree as ET  # noqa: S405 - SSML from local test clients
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from ._audio import chunk_bytes, encode, tone, wav_header
from ._base import Emulator, exchange_of, websocket_response
from ._core import BadInput, KeyRecord
from ._usp import SttSession, TtsSession

__all__ = ["AzureEmulator", "parse_output_format"]

REGION = re.compile(r"^[a-z][a-z0-9]{2,30}$")
INVALID_KEY = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API endpoint "
    "for your resource."
)
TOKEN_TTL_S = 600
_FORMAT = re.compile(r"^(raw|riff)-(\d+)(khz|hz)-(8|16)bit-mono-(pcm|mulaw|alaw)$")
_FAULTS = {
    403: "Forbidden",
    429: "Too many requests. Please retry later.",
    500: "Internal server error.",
    503: "Service unavailable.",
}
VOICES = (
    ("en-US-AvaMultilingualNeural", "Ava", "Female"),
    ("en-US-AndrewMultilingualNeural", "Andrew", "Male"),
    ("en-GB-SoniaNeural", "Sonia", "Female"),
)


def parse_output_format(value: str) -> tuple[str, int, bool]:
    """``X-Microsoft-OutputFormat`` → (encoding, sample rate, RIFF header)."""
    match = _FORMAT.match(value.strip().lower())
    if not match:
        raise BadInput(f"output format {value!r} is not produced by the emulator")
    container, number, unit, bits, codec = match.groups()
    rate = int(number) * (1000 if unit == "khz" else 1)
    encoding = {"pcm": "pcm16", "mulaw": "mulaw", "alaw": "alaw"}[codec]
    if (encoding == "pcm16") != (bits == "16") or rate not in (
        8000,
        16000,
        22050,
        24000,
        44100,
        48000,
    ):
        raise BadInput(f"output format {value!r} is not valid")
    return encoding, rate, container == "riff"


def azure_error(status: int, message: str) -> web.Response:
    """``{"error": {"code", "message"}}``."""
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status)


class AzureEmulator(Emulator):
    """``/{region}/sts/v1.0/issueToken``, ``/{region}/cognitiveservices/…``."""

    provider: ClassVar[str] = "azure"

    def __init__(self, *, latency_ms: int = 0) -> None:
        super().__init__(latency_ms=latency_ms)
        self._tokens: dict[str, tuple[KeyRecord, str, float]] = {}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Region-prefixed REST routes."""
        region = "/{region:[a-z][a-z0-9]{2,30}}"
        router.add_post(region + "/sts/v1.0/issueToken", self.issue_token)
        router.add_post(region + "/sts/v1.0/issuetoken", self.issue_token)
        router.add_post(region + "/cognitiveservices/v1", self.synthesize)
        router.add_get(region + "/cognitiveservices/voices/list", self.voices)
        for prefix in ("", region):
            stt = prefix + "/speech/recognition/{mode:interactive|conversation|dictation}"
            router.add_get(stt + "/cognitiveservices/v1", self.usp_stt)
            for tts in ("/cognitiveservices/websocket/v1", "/tts/cognitiveservices/websocket/v1"):
                router.add_get(prefix + tts, self.usp_tts)
        router.add_get(region + "/cognitiveservices/v1", self.usp_tts)

    def register_extra(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Requires a lowercase ``region`` such as ``eastus``."""
        unknown = set(body) - {"region"}
        if unknown:
            raise BadInput(f"unknown registration fields: {sorted(unknown)}")
        region = body.get("region")
        if not isinstance(region, str) or not REGION.match(region):
            raise BadInput("azure keys need a lowercase region, e.g. 'eastus'")
        return {"region": region}

    def extract_key(self, request: web.Request) -> str | None:
        """``Ocp-Apim-Subscription-Key``."""
        return request.headers.get("Ocp-Apim-Subscription-Key")

    def resolve_key(self, request: web.Request) -> tuple[str | None, KeyRecord | None]:
        """A subscription key, or a Bearer token issued here (unexpired)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() and not self.extract_key(request):
            entry = self._tokens.get(token.strip())
            if entry is None or entry[2] < time.time():
                return token.strip(), None
            record, region, _ = entry
            return token.strip(), KeyRecord(record.key_id, record.fault, {"region": region})
        return super().resolve_key(request)

    def key_matches(self, request: web.Request, key: KeyRecord) -> bool:
        """The key only works in its own region (a path without a region accepts any)."""
        region = request.match_info.get("region")
        return region is None or region == key.extra.get("region")

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """401 with Azure's wording (same for an unknown key and a wrong region)."""
        return azure_error(401, INVALID_KEY)

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """Injected status."""
        return azure_error(status, INVALID_KEY if status == 401 else _FAULTS[status])

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """400."""
        return azure_error(400, message)

    async def issue_token(self, request: web.Request) -> web.Response:
        """A 10-minute opaque JWT-shaped token (it never contains the key)."""
        key = exchange_of(request).key
        assert key is not None  # the middleware only lets known keys through
        region = request.match_info["region"]
        payload = {"region": region, "key_id": key.key_id, "exp": int(time.time()) + TOKEN_TTL_S}
        parts = [{"alg": "none", "typ": "JWT"}, payload, {"nonce": secrets.token_hex(8)}]
        token = ".".join(
            base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=") for p in parts
        )
        self._tokens[token] = (key, region, time.time() + TOKEN_TTL_S)
        return web.Response(text=token, content_type="text/plain")

    async def voices(self, request: web.Request) -> web.Response:
        """A fixed voice list in Azure's shape."""
        return web.json_response(
            [
                {
                    "Name": f"Microsoft Server Speech Text to Speech Voice ({v[0][:5]}, "
                    f"{v[0][6:]})",
                    "DisplayName": v[1],
                    "LocalName": v[1],
                    "ShortName": v[0],
                    "Gender": v[2],
                    "Locale": v[0][:5],
                    "LocaleName": "English",
                    "SampleRateHertz": "48000",
                    "VoiceType": "Neural",
                    "Status": "GA",
                    "WordsPerMinute": "150",
                }
                for v in VOICES
            ]
        )

    async def synthesize(self, request: web.Request) -> web.StreamResponse:
        """SSML in, audio out in ``X-Microsoft-OutputFormat``."""
        if request.content_type not in ("application/ssml+xml", "text/xml", "application/xml"):
            return azure_error(415, "Content-Type must be application/ssml+xml")
        fmt = request.headers.get("X-Microsoft-OutputFormat", "riff-16khz-16bit-mono-pcm")
        encoding, rate, riff = parse_output_format(fmt)
        try:
            root = ET.fromstring(await request.read())  # noqa: S314 - local test input
        except ET.ParseError as exc:
            raise BadInput(f"SSML is not well-formed: {exc}") from exc
        if root.tag.rsplit("}", 1)[-1] != "speak":
            raise BadInput("SSML root element must be <speak>")
        text = " ".join("".join(root.itertext()).split())
        if not text:
            raise BadInput("SSML contains no text")
        audio = encode(tone(text, rate), encoding)
        exchange = exchange_of(request)
        response = web.StreamResponse(
            headers={
                "Content-Type": "audio/x-wav"
                if riff
                else "audio/basic"
                if encoding != "pcm16"
                else "audio/x-pcm"
            }
        )
        await exchange.prepare(response)
        if riff:
            await exchange.write(response, wav_header(rate, encoding, len(audio)))
        for chunk in chunk_bytes(audio, rate, encoding):
            await exchange.write(response, chunk)
        await response.write_eof()
        return response

    async def _usp(self, request: web.Request) -> tuple[web.WebSocketResponse, Any]:
        ws = websocket_response(("USP",))
        if not ws.can_prepare(request).ok:
            raise BadInput("this endpoint is a websocket (USP)")
        exchange = exchange_of(request)
        await exchange.upgrade(ws)
        self.track(ws)
        return ws, exchange

    async def usp_stt(self, request: web.Request) -> web.StreamResponse:
        """Speech SDK recognition over USP."""
        ws, exchange = await self._usp(request)
        once = request.match_info["mode"] == "interactive"
        try:
            await SttSession(ws, exchange, list(self.script), once).run()
        finally:
            self.untrack(ws)
        return ws

    async def usp_tts(self, request: web.Request) -> web.StreamResponse:
        """Speech SDK synthesis over USP."""
        ws, exchange = await self._usp(request)
        try:
            await TtsSession(ws, exchange, parse_output_format).run()
        finally:
            self.untrack(ws)
        return ws
