"""OpenAI chat completions (`OpenAILLMService`) on the worker's shared httpx client."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipecat.services.openai.llm import OpenAILLMService

from voxroute.providers._stage import model_for, require_secret
from voxroute.providers.openai._client import OPENAI_DEFAULT_BASE_URL, SharedClientMixin
from voxroute.providers.urls import join_url, resolve_base

if TYPE_CHECKING:
    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["OpenAILLM", "SharedClientOpenAILLMService"]


class SharedClientOpenAILLMService(SharedClientMixin, OpenAILLMService):
    """`OpenAILLMService` on the worker's shared httpx client (see `SharedClientMixin`)."""


class OpenAILLM:
    """``POST {base}/v1/chat/completions`` (SSE), ``Authorization: Bearer <key>``."""

    provider: ClassVar[str] = "openai"

    @classmethod
    def build(cls, key: ServiceKey, *, resources: ProviderResources) -> OpenAILLMService:
        return SharedClientOpenAILLMService(
            http_client=resources.openai_http_client,
            api_key=require_secret(key),
            base_url=join_url(resolve_base(key.base_url, OPENAI_DEFAULT_BASE_URL), "/v1"),
            settings=OpenAILLMService.Settings(model=model_for(key)),
        )
