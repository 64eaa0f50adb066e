"""Deepgram streaming STT (`DeepgramSTTService`) built with the call's own key.

Two things differ from constructing the pipecat service directly:

* **No environment, no silent fallback.** pipecat derives the websocket URL from
  ``base_url`` and, if that fails, logs a warning and falls back to api.deepgram.com; the
  SDK reads ``DEEPGRAM_API_KEY`` when no key is given. Here the key is required and the
  Deepgram environment (REST + websocket hosts) is built by us from the stage.
* **Shared HTTP client.** The SDK client makes its own httpx client (a new SSL context,
  ~25 ms) although the streaming path only uses a websocket. We inject the worker's shared
  httpx client by swapping the client factory pipecat looks up, for the duration of the
  synchronous constructor only, under a lock. The injected factory adds only the shared
  pool and the environment, never a key, so even a racing constructor would stay correct.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from pipecat.services.deepgram import stt as _pipecat_dg_stt
from pipecat.services.deepgram.stt import DeepgramSTTService

from voxroute.providers._stage import language_for, model_for, require_secret
from voxroute.providers.deepgram._constants import DEFAULT_BASE_URL
from voxroute.providers.urls import resolve_base, to_ws

if TYPE_CHECKING:
    import httpx

    from voxroute.providers.resources import ProviderResources
    from voxroute.routing.types import ResolvedStage

__all__ = ["DeepgramSTT", "deepgram_environment"]

_factory_lock = threading.Lock()
# The name pipecat's constructor looks up at call time; tests pin that it still exists.
_FACTORY_NAME = "AsyncDeepgramClient"
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


@contextmanager
def _client_factory(
    environment: DeepgramClientEnvironment, httpx_client: httpx.AsyncClient
) -> Iterator[None]:
    def factory(*, api_key: str, **_ignored: Any) -> AsyncDeepgramClient:
        return AsyncDeepgramClient(
            api_key=api_key, environment=environment, httpx_client=httpx_client
        )

    with _factory_lock:
        original = getattr(_pipecat_dg_stt, _FACTORY_NAME)
        setattr(_pipecat_dg_stt, _FACTORY_NAME, factory)
        try:
            yield
        finally:
            setattr(_pipecat_dg_stt, _FACTORY_NAME, original)


class DeepgramSTT:
    """Deepgram live transcription over ``{ws base}/v1/listen``, linear16 at the pipeline rate."""

    provider: ClassVar[str] = "deepgram"

    @classmethod
    def build(
        cls, stage: ResolvedStage, *, sample_rate: int, resources: ProviderResources
    ) -> DeepgramSTTService:
        api_key = require_secret(stage)
        environment = deepgram_environment(stage.base_url)
        settings = DeepgramSTTService.Settings(
            model=model_for(stage),
            language=language_for(stage, "en"),
            interim_results=True,
            punctuate=True,
            smart_format=True,
            profanity_filter=False,
            endpointing=_ENDPOINTING_MS,
            utterance_end_ms=_UTTERANCE_END_MS,
        )
        with _client_factory(environment, resources.httpx_client):
            # base_url stays empty so pipecat takes the plain constructor path, which the
            # factory above serves with our environment.
            return DeepgramSTTService(
                api_key=api_key,
                encoding="linear16",
                channels=1,
                sample_rate=sample_rate,
                settings=settings,
            )
