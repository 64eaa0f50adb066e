"""The real voxroute app (emulators in-process, demo org) served by uvicorn on a free port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from voxroute.app import create_app
from voxroute.demo import DemoInfo
from voxroute.runtime import Runtime
from voxroute.settings import Settings


@dataclass
class Served:
    url: str
    runtime: Runtime
    demo: DemoInfo

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"{self.url}/api/v1", headers={"Authorization": f"Bearer {token}"}
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def served(tmp_path: Path, db_url: str, engine: object) -> AsyncIterator[Served]:
    port = free_port()
    settings = Settings(
        data_dir=tmp_path,
        database_url=db_url,
        emulators="on",
        port=port,
        billing_sweep_interval_s=0.5,
        call_hold_ttl_s=5,
        hold_extend_interval_s=1,
        loop_lag_limit_ms=2000,  # shared CI machines stall; lag admission is tested elsewhere
        loop_busy_limit_pct=100,  # the loop also runs the emulators and the calling side
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve(), name="test-uvicorn")
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    runtime: Runtime = app.state.runtime
    assert runtime.demo is not None
    yield Served(url=f"http://127.0.0.1:{port}", runtime=runtime, demo=runtime.demo)
    server.should_exit = True
    await asyncio.wait_for(task, timeout=30)
