"""A whole browser call over real sockets: the page's messages → uvicorn (the full voxroute
app, provider emulators) → audio back; the token works once; the call shows its keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed

from tests.calls.harness import free_socket
from tests.utils.api import make_settings
from tests.web.page_client import frames_of, open_line
from tests.web.test_web_calls_api import ASSISTANT
from voxroute.app import create_app
from voxroute.billing import topup
from voxroute.db.session import transaction
from voxroute.orgs import create_org
from voxroute.runtime import Runtime
from voxroute.softphone.audio import load_ulaw

UTTERANCE = Path(__file__).parents[1] / "data" / "audio" / "utterance-01.ulaw8k.wav"


@dataclass
class Live:
    base: str
    runtime: Runtime
    owner: httpx.AsyncClient


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """Whole calls run on the embedded default (the API tests cover PostgreSQL)."""
    return sqlite_url


@pytest.fixture
async def live(tmp_path: Path, db_url: str, engine: object) -> AsyncIterator[Live]:
    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(tmp_path, db_url, emulators="on", public_url=base)
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    while not server.started:
        await asyncio.sleep(0.02)
        if task.done():
            task.result()
    runtime: Runtime = app.state.runtime
    runtime.registry.loop_lag_limit_ms = float("inf")  # the test client shares the loop
    async with transaction(runtime.session_factory) as session:
        org, token = await create_org(session, name="Acme", byok=True)
    await topup(
        runtime.session_factory,
        org_id=org.id,
        amount_micros=5_000_000,
        idempotency_key=f"test-credit-{org.id}",
        description="test credit",
    )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(base_url=f"{base}/api/v1", headers=headers) as owner:
            yield Live(base, runtime, owner)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


async def ended_call(live: Live, call_id: str) -> dict[str, object]:
    for _ in range(50):
        view: dict[str, object] = (await live.owner.get(f"/calls/{call_id}")).json()
        if view["status"] == "ended" and view.get("cost"):
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"call {call_id} did not end: {view}")


async def test_a_browser_call_gets_spoken_replies_and_shows_its_keys(live: Live) -> None:
    assistant_id = (await live.owner.post("/assistants", json=ASSISTANT)).json()["id"]
    created = (await live.owner.post("/calls/web", json={"assistant_id": assistant_id})).json()
    assert created["stream_url"] == live.base.replace("http", "ws") + "/telephony/twilio/stream"

    line = await open_line(created)
    assert await line.until_reply(0.0), "the first message is spoken"
    greeting = len(line.heard.audio)
    spoken_at = time.monotonic()
    await line.stream(frames_of(load_ulaw(UTTERANCE)))
    assert await line.until_reply(spoken_at), "the utterance gets a reply"
    await line.hang_up()

    assert greeting > 8000 and len(line.heard.audio) > greeting + 8000
    assert line.heard.marks_echoed[:2] == ["utt-1", "utt-2"]
    call = await ended_call(live, created["call_id"])
    assert call["telephony_provider"] == "web" and call["end_reason"] == "caller_hung_up"
    trace = call["resolution"]
    assert isinstance(trace, list)
    assert [(s["stage"], s["source"]) for s in trace] == [
        ("stt", "managed"),
        ("llm", "managed"),
        ("tts", "managed"),
    ]
    assert isinstance(call["cost"], dict) and call["cost"]["total_billed_micros"] > 0


async def test_a_used_token_is_refused(live: Live) -> None:
    assistant_id = (await live.owner.post("/assistants", json=ASSISTANT)).json()["id"]
    created = (await live.owner.post("/calls/web", json={"assistant_id": assistant_id})).json()
    first = await open_line(created)
    assert await first.until_reply(0.0, limit_s=8)

    again = await open_line(created)
    with pytest.raises(ConnectionClosed):
        for _ in range(50):
            await again.stream([b"\xff" * 160])
    await again.wait_closed()
    assert again.heard.close_code == 1008 and not again.heard.audio
    await first.hang_up()
    assert (await ended_call(live, created["call_id"]))["end_reason"] == "caller_hung_up"
