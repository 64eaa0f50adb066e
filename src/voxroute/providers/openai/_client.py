"""The one way voxroute builds an `AsyncOpenAI` client (OpenAI and OpenAI-compatible xAI).

* ``api_key`` and ``base_url`` are always explicit: given ``None`` the SDK reads
  ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` from the process environment.
* The SDK also picks up ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID`` on its own and would send
  them as headers with a tenant's key; those are cleared after construction.
* The httpx client is the worker's shared one, so no CA bundle is loaded per call. The
  SDK never closes a client it was handed, so the pool outlives each call.
"""

from __future__ import annotations

import httpx2
from openai import AsyncOpenAI

__all__ = ["OPENAI_DEFAULT_BASE_URL", "make_async_openai"]

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com"


def make_async_openai(
    *, api_key: str, base_url: str, http_client: httpx2.AsyncClient
) -> AsyncOpenAI:
    """A client bound to the call's key and endpoint, on the shared connection pool."""
    if not api_key:
        raise ValueError("an explicit api_key is required")
    client = AsyncOpenAI(api_key=api_key, base_url=base_url, http_client=http_client)
    client.organization = None
    client.project = None
    return client
