"""Deepgram Aura TTS over the websocket API (`DeepgramTTSService`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipecat.services.deepgram.tts import DeepgramTTSService

from voxroute.providers._stage import require_secret, voice_for
from voxroute.providers.deepgram._constants import DEFAULT_BASE_URL
from voxroute.providers.urls import resolve_base, to_ws

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["DeepgramTTS"]


class DeepgramTTS:
    """``{ws base}/v1/speak?model=<voice>&encoding=linear16&sample_rate=<pipeline rate>``.

    For Aura the model id *is* the voice (``aura-2-thalia-en``), so the stage model is the
    default voice and ``options.voice_id`` may pick another one.
    """

    provider: ClassVar[str] = "deepgram"

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> DeepgramTTSService:
        voice = voice_for(key, default=key.model)
        return DeepgramTTSService(
            api_key=require_secret(key),
            base_url=to_ws(resolve_base(key.base_url, DEFAULT_BASE_URL)),
            sample_rate=sample_rate,
            encoding="linear16",
            settings=DeepgramTTSService.Settings(voice=voice),
        )
