"""The one way voxroute builds an `AsyncOpenAI` client (OpenAI and OpenAI-compatible xAI).

* ``api_key`` and ``base_url`` are always explicit: given ``None`` the SDK reads
  ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` from the process environment.
* The SDK also picks up ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID`` on its own and would send
  them as headers with a tenant's key; those are cleared after construction.
* The httpx client is the worker's shared one, so no CA bundle is loaded per call. The
  SDK never closes a client it was handed, so the pool outlives each call.
* Responses are validated by pydantic (``_strict_response_validation``, a constructor
  option of the SDK) instead of the SDK's default loose construction, which walks the
  model's type hints in Python: about 100 µs per streamed ``ChatCompletionChunk`` against
  5 µs (`bench/llm_chunks.py`), and in a 30-call profile the loose path was a
  third of the LLM's share of the worker. The price: a response that
  breaks the API's schema raises ``APIResponseValidationError`` (a failed LLM request,
  the failover path) instead of passing through half-built.
"""

from __future__ import annotations

from typing import Any

import httpx2
from openai import AsyncOpenAI

from voxroute.providers.openai._params import send_plain_json_as_is

__all__ = ["OPENAI_DEFAULT_BASE_URL", "SharedClientMixin", "make_async_openai"]

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com"


def make_async_openai(
    *, api_key: str, base_url: str, http_client: httpx2.AsyncClient
) -> AsyncOpenAI:
    """A client bound to the call's key and endpoint, on the shared connection pool."""
    if not api_key:
        raise ValueError("an explicit api_key is required")
    client = AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        http_client=http_client,
        _strict_response_validation=True,
    )
    client.organization = None
    client.project = None
    return client


class SharedClientMixin:
    """For pipecat's OpenAI-family LLM services: `create_client` reuses the shared httpx client.

    pipecat calls ``create_client`` from its constructor; the stock version builds a new
    httpx client (and SSL context) per service, ~25 ms of blocking work per call. Put this
    mixin first in the bases so its ``create_client`` wins. It also sends the conversation
    as-is when it is plain JSON, past the SDK's per-request transform (`_params.py`).
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

    def build_chat_completion_params(self, params_from_context: Any) -> dict[str, Any]:
        params: dict[str, Any] = super().build_chat_completion_params(params_from_context)  # type: ignore[misc]
        return send_plain_json_as_is(params)
