"""Provider websocket clients connect without permessage-deflate."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect as stock_connect
from websockets.asyncio.server import ServerConnection, serve

from voxroute._pipecat.websockets import CONNECT_FUNCTIONS, disable_permessage_deflate


@pytest.fixture
async def deflating_server() -> AsyncIterator[str]:
    """A websocket server that accepts permessage-deflate whenever a client offers it."""

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def test_the_stock_client_would_negotiate_deflate(deflating_server: str) -> None:
    async with stock_connect(deflating_server) as ws:
        assert [type(e).__name__ for e in ws.protocol.extensions] == ["PerMessageDeflate"]


@pytest.mark.parametrize(("module_name", "name"), CONNECT_FUNCTIONS)
async def test_provider_connects_offer_no_compression(
    deflating_server: str, module_name: str, name: str
) -> None:
    disable_permessage_deflate()
    disable_permessage_deflate()  # idempotent
    connect = getattr(importlib.import_module(module_name), name)
    async with connect(deflating_server) as ws:
        extensions = ws.protocol.extensions if hasattr(ws, "protocol") else ws.extensions
        assert extensions == []
        await ws.send("ping")
        assert await ws.recv() == "ping"
