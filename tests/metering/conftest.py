"""The real voxroute app (emulators in-process, demo org) served by uvicorn on a bound port 0."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from voxroute.app import create_app
from voxroute.cli._listen import bind_listener
from voxroute.demo import DemoInfo
from voxroute.runtime import Runtime
from voxroute.settings import Settings
from voxroute.softphone import CallResult, place_call

AUDIO = Path(__file__).parents[1] / "data" / "audio"


@dataclass
class Served:
    url: str
    runtime: Runtime
    demo: DemoInfo

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"{self.url}/api/v1", headers={"Authorization": f"Bearer {token}"}
        )


SCRAPE_TOKEN = "test-scrape-token-0123456789"  # noqa: S105  (a test credential)


@pytest.fixture
async def served(tmp_path: Path, db_url: str, engine: object) -> AsyncIterator[Served]:
    with bind_listener("127.0.0.1", 0) as listener:  # bound before the settings need its port
        port = listener.getsockname()[1]
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
            metrics_token=SCRAPE_TOKEN,
        )
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        task = asyncio.create_task(server.serve(sockets=[listener]), name="test-uvicorn")
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        runtime: Runtime = app.state.runtime
        assert runtime.demo is not None
        yield Served(url=f"http://127.0.0.1:{port}", runtime=runtime, demo=runtime.demo)
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


async def call_demo_until_settled(
    served: Served, caller: str, timeout_s: float = 30.0
) -> tuple[CallResult, dict[str, Any]]:
    """A one-utterance call to the demo number; returns once the ledger holds its charge,
    with the call as the API lists it."""
    demo = served.demo
    result = await place_call(
        served.url,
        demo.number,
        caller,
        demo.account_sid,
        demo.auth_token,
        [AUDIO / "utterance-02.ulaw8k.wav"],
        None,
    )
    assert result.ok, result.error
    owner = served.client(demo.token)
    [call] = [
        c for c in (await owner.get("/calls")).json() if c["provider_call_id"] == result.call_sid
    ]

    async def settled() -> bool:
        entries = (await owner.get("/billing/ledger")).json()["entries"]
        return any(entry["call_id"] == call["id"] for entry in entries)

    await wait_until(settled, timeout_s)
    return result, call
