"""OpenAI chat completions (`OpenAILLMService`) on the worker's shared httpx client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import httpx2
from openai import AsyncOpenAI
from pipecat.services.openai.llm import OpenAILLMService

from voxroute.providers._stage import require_secret
from voxroute.providers.openai._client import OPENAI_DEFAULT_BASE_URL, make_async_openai
from voxroute.providers.urls import join_url, resolve_base

if TYPE_CHECKING:
    from voxroute.providers.resources import ProviderResources
    from voxroute.routing.types import ResolvedStage

__all__ = ["OpenAILLM", "SharedClientOpenAILLMService"]


class SharedClientOpenAILLMService(OpenAILLMService):
    """`OpenAILLMService` whose `create_client` reuses a given httpx client.

    pipecat calls ``create_client`` from its constructor; the stock version builds a new
    httpx client (and SSL context) per service, ~25 ms of blocking work per call.
    """

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


class OpenAILLM:
    """``POST {base}/v1/chat/completions`` (SSE), ``Authorization: Bearer <key>``."""

    provider: ClassVar[str] = "openai"

    @classmethod
    def build(cls, stage: ResolvedStage, *, resources: ProviderResources) -> OpenAILLMService:
        return SharedClientOpenAILLMService(
            http_client=resources.openai_http_client,
            api_key=require_secret(stage),
            base_url=join_url(resolve_base(stage.base_url, OPENAI_DEFAULT_BASE_URL), "/v1"),
            settings=OpenAILLMService.Settings(model=stage.model),
        )
