"""Resemble AI websocket TTS (`ResembleAITTSService`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipecat.services.resembleai.tts import ResembleAITTSService

from voxroute.providers._stage import require_secret, voice_for
from voxroute.providers.urls import join_url, resolve_base, to_ws

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["DEFAULT_STREAM_BASE", "STREAM_PATH", "ResembleTTS"]

# Synthesis and the REST API live on different hosts; an override serves both.
DEFAULT_STREAM_BASE = "wss://websocket.cluster.resemble.ai"
STREAM_PATH = "/stream"
# Rates Resemble can synthesize; anything else is produced at 22050 Hz and resampled
# by the output transport.
_NATIVE_RATES = frozenset({8000, 16000, 22050, 32000, 44100})


class ResembleTTS:
    """``{ws base}/stream`` with ``Authorization: Bearer``; 16-bit PCM (WAV) chunks."""

    provider: ClassVar[str] = "resemble"

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> ResembleAITTSService:
        base = to_ws(resolve_base(key.base_url, DEFAULT_STREAM_BASE))
        return ResembleAITTSService(
            api_key=require_secret(key),
            url=join_url(base, STREAM_PATH),
            precision="PCM_16",
            output_format="wav",
            sample_rate=sample_rate if sample_rate in _NATIVE_RATES else 22050,
            # Resemble has no model choice; the catalog's "resemble-default" is a label.
            settings=ResembleAITTSService.Settings(voice=voice_for(key)),
        )
