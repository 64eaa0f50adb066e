"""xAI Grok chat (`GrokLLMService`, OpenAI-compatible) on the shared httpx client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import httpx2
from openai import AsyncOpenAI
from pipecat.services.xai.llm import GrokLLMService

from voxroute.providers._stage import require_secret
from voxroute.providers.openai._client import make_async_openai
from voxroute.providers.urls import join_url, resolve_base

if TYPE_CHECKING:
    from voxroute.providers.resources import ProviderResources
    from voxroute.routing.types import ResolvedStage

__all__ = ["DEFAULT_BASE_URL", "SharedClientGrokLLMService", "XAILLM"]

DEFAULT_BASE_URL = "https://api.x.ai"


class SharedClientGrokLLMService(GrokLLMService):
    """`GrokLLMService` whose `create_client` reuses a given httpx client."""

    def __init__(self, *, http_client: httpx2.AsyncClient, **kwargs: Any) -> None:
        self._voxroute_http_client = http_client
        super().__init__(**kwargs)

    def create_client(
        self,
        api_key: Any = None,
        base_url: Any = None,
        organization: Any = None,
        project: Any = None,
        default_headers: Any = None,
        **kwargs: Any,
    ) -> AsyncOpenAI:
        """Ignore organization/project: a tenant's key is never sent with the platform's."""
        if not api_key or not base_url:
            raise ValueError("api_key and base_url must be explicit")
        return make_async_openai(
            api_key=api_key, base_url=base_url, http_client=self._voxroute_http_client
        )


class XAILLM:
    """``POST {base}/v1/chat/completions``; xAI answers a bad key with 400, not 401."""

    provider: ClassVar[str] = "xai"

    @classmethod
    def build(cls, stage: ResolvedStage, *, resources: ProviderResources) -> GrokLLMService:
        return SharedClientGrokLLMService(
            http_client=resources.openai_http_client,
            api_key=require_secret(stage),
            base_url=join_url(resolve_base(stage.base_url, DEFAULT_BASE_URL), "/v1"),
            settings=GrokLLMService.Settings(model=stage.model),
        )
