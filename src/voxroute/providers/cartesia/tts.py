"""Cartesia Sonic websocket TTS (`CartesiaTTSService`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipecat.services.cartesia.tts import CartesiaTTSService

from voxroute.providers._stage import language_for, model_for, require_secret, voice_for
from voxroute.providers.urls import join_url, resolve_base, to_ws

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["DEFAULT_BASE_URL", "WS_PATH", "CartesiaTTS"]

DEFAULT_BASE_URL = "https://api.cartesia.ai"
WS_PATH = "/tts/websocket"


class CartesiaTTS:
    """``{ws base}/tts/websocket`` with ``X-API-Key``; raw ``pcm_s16le`` at the pipeline rate."""

    provider: ClassVar[str] = "cartesia"

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> CartesiaTTSService:
        base = to_ws(resolve_base(key.base_url, DEFAULT_BASE_URL))
        return CartesiaTTSService(
            api_key=require_secret(key),
            url=join_url(base, WS_PATH),
            sample_rate=sample_rate,
            encoding="pcm_s16le",
            container="raw",
            settings=CartesiaTTSService.Settings(
                model=model_for(key),
                voice=voice_for(key),
                language=language_for(key, "en"),
            ),
        )
