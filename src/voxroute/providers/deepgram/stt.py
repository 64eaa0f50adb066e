"""Deepgram streaming STT (`DeepgramSTTService`) built with the call's own key.

Two things differ from constructing the pipecat service directly:

* **No environment, no silent fallback.** pipecat derives the websocket URL from
  ``base_url`` and, if that fails, logs a warning and falls back to api.deepgram.com; the
  SDK reads ``DEEPGRAM_API_KEY`` when no key is given. Here the key is required and the
  Deepgram environment (REST + websocket hosts) is built by us from the stage.
* **Shared HTTP client.** The SDK client makes its own httpx client (a new SSL context,
  ~25 ms) although the streaming path only uses a websocket. We inject the worker's shared
  httpx client through `voxroute._pipecat.deepgram` (the one home of pipecat patches).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from deepgram import DeepgramClientEnvironment
from pipecat.services.deepgram.stt import DeepgramSTTService

from voxroute._pipecat.deepgram import deepgram_client_factory
from voxroute.providers._stage import language_for, model_for, require_secret
from voxroute.providers.deepgram._constants import DEFAULT_BASE_URL
from voxroute.providers.urls import resolve_base, to_ws

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["DeepgramSTT", "deepgram_environment"]

# Telephony: finalize ~400 ms after speech ends; UtteranceEnd after 1 s without words.
_ENDPOINTING_MS = 400
_UTTERANCE_END_MS = 1000


def deepgram_environment(base_url: str | None) -> DeepgramClientEnvironment:
    """REST + websocket hosts for the SDK; one host, two schemes."""
    http_url = resolve_base(base_url, DEFAULT_BASE_URL)
    ws_url = to_ws(http_url)
    return DeepgramClientEnvironment(
        base=http_url, production=ws_url, agent=ws_url, agent_rest=http_url
    )


class DeepgramSTT:
    """Deepgram live transcription over ``{ws base}/v1/listen``, linear16 at the pipeline rate."""

    provider: ClassVar[str] = "deepgram"

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> DeepgramSTTService:
        api_key = require_secret(key)
        environment = deepgram_environment(key.base_url)
        settings = DeepgramSTTService.Settings(
            model=model_for(key),
            language=language_for(key, "en"),
            interim_results=True,
            punctuate=True,
            smart_format=True,
            profanity_filter=False,
            endpointing=_ENDPOINTING_MS,
            utterance_end_ms=_UTTERANCE_END_MS,
        )
        with deepgram_client_factory(environment, resources.httpx_client):
            # base_url stays empty so pipecat takes the plain constructor path, which the
            # factory above serves with our environment.
            return DeepgramSTTService(
                api_key=api_key,
                encoding="linear16",
                channels=1,
                sample_rate=sample_rate,
                settings=settings,
            )
