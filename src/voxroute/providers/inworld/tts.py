"""Inworld bidirectional websocket TTS (`InworldTTSService`).

The credential is Inworld's portal-issued Base64 string, sent as ``Authorization: Basic
<bearer_token>`` unchanged (pipecat does not re-encode it). ``workspace_id`` is a public
field kept for the dashboard; the TTS API has no workspace in its URL.
The HTTP variant (`InworldHttpTTSService`) is not used: its host is hard-coded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipecat.services.inworld.tts import InworldTTSService

from voxroute.providers._stage import model_for, require_secret, voice_for
from voxroute.providers.urls import join_url, resolve_base, to_ws

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["DEFAULT_BASE_URL", "WS_PATH", "InworldTTS"]

DEFAULT_BASE_URL = "https://api.inworld.ai"
WS_PATH = "/tts/v1/voice:streamBidirectional"


class InworldTTS:
    """``{ws base}/tts/v1/voice:streamBidirectional``, PCM at the pipeline rate."""

    provider: ClassVar[str] = "inworld"

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> InworldTTSService:
        base = to_ws(resolve_base(key.base_url, DEFAULT_BASE_URL))
        return InworldTTSService(
            api_key=require_secret(key, "bearer_token"),
            url=join_url(base, WS_PATH),
            sample_rate=sample_rate,
            encoding="PCM",
            settings=InworldTTSService.Settings(model=model_for(key), voice=voice_for(key)),
        )
