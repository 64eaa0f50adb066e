"""Azure Speech recognition (`AzureSTTService`).

pipecat's Azure services run Microsoft's native Speech SDK, which speaks its own USP
protocol over a websocket from a closed C++ core. The service is built with the call's
key and region (real Azure), or with ``private_endpoint`` under an override host, but
voxroute's emulators do not implement USP: against an emulator these services can be
*constructed* (and are tested that way) but not run. See README "Provider notes".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipecat.services.azure.stt import AzureSTTService

from voxroute.providers._stage import language_for, public_field, require_secret
from voxroute.providers.azure._endpoints import check_region, stt_private_endpoint

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["AzureSTT"]


class AzureSTT:
    """Continuous recognition at the pipeline rate, in ``options.language`` (``en-US``)."""

    provider: ClassVar[str] = "azure"

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> AzureSTTService:
        api_key = require_secret(key)
        region = check_region(public_field(key, "region"))
        settings = AzureSTTService.Settings(language=language_for(key, "en-US"))
        if key.base_url:
            return AzureSTTService(
                api_key=api_key,
                private_endpoint=stt_private_endpoint(region, key.base_url),
                sample_rate=sample_rate,
                settings=settings,
            )
        return AzureSTTService(
            api_key=api_key, region=region, sample_rate=sample_rate, settings=settings
        )
