"""OpenAI speech (`OpenAITTSService`): ``POST {base}/v1/audio/speech``, raw 24 kHz PCM."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipecat.services.openai.tts import OpenAITTSService

from voxroute.providers._stage import model_for, require_secret, voice_for
from voxroute.providers.openai._client import OPENAI_DEFAULT_BASE_URL, make_async_openai
from voxroute.providers.urls import join_url, resolve_base

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["OPENAI_TTS_SAMPLE_RATE", "OpenAITTS"]

# OpenAI's "pcm" format is fixed at 24 kHz; the output transport resamples to the call's.
OPENAI_TTS_SAMPLE_RATE = 24000


class OpenAITTS:
    """HTTP TTS; the service is built at 24 kHz whatever the pipeline rate."""

    provider: ClassVar[str] = "openai"

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> OpenAITTSService:
        api_key = require_secret(key)
        base_url = join_url(resolve_base(key.base_url, OPENAI_DEFAULT_BASE_URL), "/v1")
        service = OpenAITTSService(
            api_key=api_key,
            base_url=base_url,
            http_client=resources.openai_http_client,
            sample_rate=OPENAI_TTS_SAMPLE_RATE,
            settings=OpenAITTSService.Settings(model=model_for(key), voice=voice_for(key)),
        )
        # Rebuild through the one helper that clears environment-derived org/project.
        service._client = make_async_openai(
            api_key=api_key, base_url=base_url, http_client=resources.openai_http_client
        )
        return service
