"""pipecat's Deepgram STT constructor, served by a client factory of ours for its duration.

`DeepgramSTTService` builds its SDK client through the module global `AsyncDeepgramClient`
(looked up at call time). The client would make its own httpx client (a new SSL context,
~25 ms) although streaming uses only a websocket, so for the synchronous constructor only,
under a lock, that name points at a factory that adds the worker's shared httpx client and
our Deepgram environment. The factory never adds a key, so even a racing constructor would
stay correct.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from pipecat.services.deepgram import stt as _pipecat_dg_stt

if TYPE_CHECKING:
    import httpx

__all__ = ["FACTORY_NAME", "deepgram_client_factory"]

# The name pipecat's constructor looks up at call time (checked in `PATCHED`).
FACTORY_NAME = "AsyncDeepgramClient"
_lock = threading.Lock()


@contextmanager
def deepgram_client_factory(
    environment: DeepgramClientEnvironment, httpx_client: httpx.AsyncClient
) -> Iterator[None]:
    def factory(*, api_key: str, **_ignored: Any) -> AsyncDeepgramClient:
        return AsyncDeepgramClient(
            api_key=api_key, environment=environment, httpx_client=httpx_client
        )

    with _lock:
        original = getattr(_pipecat_dg_stt, FACTORY_NAME)
        setattr(_pipecat_dg_stt, FACTORY_NAME, factory)
        try:
            yield
        finally:
            setattr(_pipecat_dg_stt, FACTORY_NAME, original)
