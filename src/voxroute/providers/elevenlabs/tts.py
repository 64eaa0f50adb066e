"""ElevenLabs multi-context websocket TTS (`ElevenLabsTTSService`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipecat.services.elevenlabs.tts import ElevenLabsTTSService

from voxroute.providers._stage import model_for, require_secret, voice_for
from voxroute.providers.urls import resolve_base, to_ws

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["DEFAULT_BASE_URL", "ElevenLabsTTS"]

DEFAULT_BASE_URL = "https://api.elevenlabs.io"


class ElevenLabsTTS:
    """``{ws base}/v1/text-to-speech/{voice}/multi-stream-input``, ``pcm_<pipeline rate>``.

    The key travels in the ``xi-api-key`` handshake header; pipecat appends the path.
    """

    provider: ClassVar[str] = "elevenlabs"

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> ElevenLabsTTSService:
        return ElevenLabsTTSService(
            api_key=require_secret(key),
            url=to_ws(resolve_base(key.base_url, DEFAULT_BASE_URL)),
            sample_rate=sample_rate,
            settings=ElevenLabsTTSService.Settings(model=model_for(key), voice=voice_for(key)),
        )
