"""Heavy, key-free client resources shared by every call served by one worker process.

Building a pipecat service per call is the normal way to give each call its own key, but
the stock constructors create a fresh httpx client each, and every fresh client loads the
CA bundle into a new SSL context (~20-35 ms of blocking work per service, measured in
``bench/service_build.py``). A worker therefore creates one `ProviderResources` at
start-up and hands it to every build: connection pools and the SSL context are shared,
while the key still travels per request in each service's own headers.
"""

from __future__ import annotations

import ssl
from types import TracebackType

import aiohttp
import certifi
import httpx
import httpx2
import openai

from voxroute._pipecat.websockets import disable_permessage_deflate

__all__ = ["ProviderResources"]

_CONNECT_TIMEOUT_S = 5.0
# Streaming LLM replies can legitimately run for minutes; only connecting is kept short.
_READ_TIMEOUT_S = 600.0


class ProviderResources:
    """The shared SSL context and HTTP connection pools of one worker process.

    * ``http_session`` (aiohttp): HTTP validation probes and aiohttp-based services.
    * ``httpx_client`` (httpx): the Deepgram SDK.
    * ``openai_http_client`` (httpx2's API, which the openai SDK 3.x is built on, on aiohttp's
      transport: the SDK's documented ``DefaultAioHttpClient``): OpenAI, xAI. aiohttp parses
      HTTP in C; an LLM request with a 22-chunk stream costs 23–29 % less CPU than on
      httpx2's own transport (``bench/llm_transport.py``).

    Create it inside the worker's event loop with ``await ProviderResources.create()`` and
    close it with ``await resources.aclose()`` (or use it as an async context manager).
    Nothing here holds a key: the pools are safe to share between tenants.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        http_session: aiohttp.ClientSession,
        httpx_client: httpx.AsyncClient,
        openai_http_client: httpx2.AsyncClient,
    ) -> None:
        self.ssl_context = ssl_context
        self.http_session = http_session
        self.httpx_client = httpx_client
        self.openai_http_client = openai_http_client
        self._closed = False

    @classmethod
    async def create(cls, *, max_connections: int = 1000) -> ProviderResources:
        """Build the shared clients; must run inside the event loop that will use them.

        ``trust_env=False`` keeps proxies, ``SSL_CERT_FILE`` and netrc credentials of the
        process environment out of the call path (DESIGN §2: no environment lookups).
        """
        disable_permessage_deflate()
        ssl_context = ssl.create_default_context(cafile=certifi.where())
        connector = aiohttp.TCPConnector(ssl=ssl_context, limit=max_connections)
        http_session = aiohttp.ClientSession(connector=connector, trust_env=False)
        httpx_client = httpx.AsyncClient(
            verify=ssl_context,
            trust_env=False,
            follow_redirects=True,
            timeout=httpx.Timeout(_READ_TIMEOUT_S, connect=_CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=100),
        )
        openai_http_client = openai.DefaultAioHttpClient(
            verify=ssl_context,
            trust_env=False,
            follow_redirects=True,
            timeout=httpx2.Timeout(_READ_TIMEOUT_S, connect=_CONNECT_TIMEOUT_S),
            limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=100),
        )
        return cls(
            ssl_context=ssl_context,
            http_session=http_session,
            httpx_client=httpx_client,
            openai_http_client=openai_http_client,
        )

    @property
    def closed(self) -> bool:
        """Whether `aclose` has run; builds refuse closed resources."""
        return self._closed

    async def aclose(self) -> None:
        """Close every connection pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self.httpx_client.aclose()
        await self.openai_http_client.aclose()
        await self.http_session.close()

    async def __aenter__(self) -> ProviderResources:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
