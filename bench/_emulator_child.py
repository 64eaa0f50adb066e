"""The emulator suite in a child process, for benchmarks that time only their own side.

The emulators answer over real loopback sockets from another process, so the benchmark's
`time.process_time()` counts the client's CPU alone.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Coroutine
from typing import Any

from voxroute.emulators import EmulatorSuite


def _serve(provider: str, key: str, urls: Any) -> None:
    async def serve() -> None:
        async with EmulatorSuite.start() as suite:
            suite.register_key(provider, key)
            urls.put(suite.base_urls[provider])
            await asyncio.Event().wait()

    asyncio.run(serve())


def run_against_emulator(
    provider: str, key: str, body: Callable[[str], Coroutine[Any, Any, None]]
) -> None:
    """Start the suite in a child with `key` registered for `provider`, then run
    `body(base_url)` in this process; the child is stopped afterwards."""
    urls: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=_serve, args=(provider, key, urls), daemon=True)
    child.start()
    try:
        asyncio.run(body(urls.get(timeout=30)))
    finally:
        child.terminate()
