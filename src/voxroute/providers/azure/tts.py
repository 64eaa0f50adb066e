"""Azure neural TTS (`AzureTTSService`, streaming through the native Speech SDK).

Same limitation as `voxroute.providers.azure.stt`: the SDK's USP websocket protocol is not
emulated, so against an emulator this service is constructed but never run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipecat.services.azure.tts import AzureTTSService

from voxroute.providers._stage import language_for, public_field, require_secret, voice_for
from voxroute.providers.azure._endpoints import check_region, tts_private_endpoint

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["AzureTTS"]


class AzureTTS:
    """Streaming synthesis at the pipeline rate; voice from options or the catalog."""

    provider: ClassVar[str] = "azure"

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> AzureTTSService:
        api_key = require_secret(key)
        region = check_region(public_field(key, "region"))
        settings = AzureTTSService.Settings(
            voice=voice_for(key), language=language_for(key, "en-US")
        )
        if key.base_url:
            return AzureTTSService(
                api_key=api_key,
                private_endpoint=tts_private_endpoint(region, key.base_url),
                sample_rate=sample_rate,
                settings=settings,
            )
        return AzureTTSService(
            api_key=api_key, region=region, sample_rate=sample_rate, settings=settings
        )
