"""xAI Grok chat (`GrokLLMService`, OpenAI-compatible) on the shared httpx client."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipecat.services.xai.llm import GrokLLMService

from voxroute.providers._stage import model_for, require_secret
from voxroute.providers.openai._client import SharedClientMixin
from voxroute.providers.urls import join_url, resolve_base

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["DEFAULT_BASE_URL", "SharedClientGrokLLMService", "XAILLM"]

DEFAULT_BASE_URL = "https://api.x.ai"


class SharedClientGrokLLMService(SharedClientMixin, GrokLLMService):
    """`GrokLLMService` on the worker's shared httpx client (see `SharedClientMixin`)."""


class XAILLM:
    """``POST {base}/v1/chat/completions``; xAI answers a bad key with 400, not 401."""

    provider: ClassVar[str] = "xai"

    @classmethod
    def build(cls, key: ServiceKey, *, resources: ProviderResources) -> GrokLLMService:
        return SharedClientGrokLLMService(
            http_client=resources.openai_http_client,
            api_key=require_secret(key),
            base_url=join_url(resolve_base(key.base_url, DEFAULT_BASE_URL), "/v1"),
            settings=GrokLLMService.Settings(model=model_for(key)),
        )
