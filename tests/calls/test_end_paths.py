"""How a live call ends besides the caller hanging up: maximum duration, idle timeout, the
hang-up API; and DTMF, which must reach the pipeline without ending anything."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.calls.harness import (
    Env,
    Factory,
    call,
    default_stages,
    ended_call,
    running_server,
    seed,
    stored_call,
)
from tests.calls.wire import open_line
from voxroute.api.routes.calls import router as calls_router
from voxroute.auth import Role, issue_token
from voxroute.calls.session import IDLE_MESSAGE
from voxroute.emulators import EmulatorSuite
from voxroute.emulators._audio import speech_duration_s

LINGER = {"hang_up": False, "end_wait_s": 20.0, "reply_timeout_s": 5.0}


@asynccontextmanager
async def served(
    factory: Factory, suite: EmulatorSuite, **assistant: Any
) -> AsyncIterator[tuple[Env, str]]:
    seeded = await seed(factory, **assistant)
    async with running_server(
        factory, twilio_api_base_url=suite.base_urls["twilio"], routers=(calls_router,)
    ) as (base, runtime):
        runtime.stages = default_stages(suite)
        yield Env(base, runtime, suite, factory), seeded.org_id


def twilio_hangups(env: Env) -> list[dict[str, Any]]:
    return [c for c in env.suite.emulator("twilio").calls if c["status"] == "completed"]


async def test_a_call_reaching_its_maximum_duration_is_ended_politely(
    session_factory: Factory, suite: EmulatorSuite
) -> None:
    async with served(session_factory, suite, max_duration_s=2, idle_timeout_s=60) as (env, _):
        result = await call(env, [], **LINGER)
    assert result.hung_up_by == "server", result
    (report,) = env.runtime.reports
    assert report.end_reason == "max_duration"
    assert result.audio_received_s > 1.0  # first message, then the goodbye
    assert (await stored_call(env)).end_reason == "max_duration"
    assert len(twilio_hangups(env)) == 1


async def test_a_silent_caller_is_ended_after_the_idle_timeout(
    session_factory: Factory, suite: EmulatorSuite
) -> None:
    async with served(session_factory, suite, max_duration_s=60, idle_timeout_s=1) as (env, _):
        result = await call(env, [], **LINGER)
    assert result.hung_up_by == "server", result
    (report,) = env.runtime.reports
    assert report.end_reason == "idle_timeout"
    assert (await stored_call(env)).end_reason == "idle_timeout"
    assert len(twilio_hangups(env)) == 1


async def test_the_idle_timeout_counts_from_the_end_of_the_bots_speech(
    session_factory: Factory, suite: EmulatorSuite
) -> None:
    """The output tells the idle timeout that the bot speaks (`on_speaking`), without a
    frame through the pipeline: a 6 s greeting is not idle time."""
    idle_s = 2
    greeting = (
        "Thanks for calling the front desk of the Grand Hotel. "
        "How may I help you today, and who is speaking?"
    )
    async with served(
        session_factory, suite, max_duration_s=60, idle_timeout_s=idle_s, first_message=greeting
    ) as (env, _):
        result = await call(env, [], **LINGER)
    (report,) = env.runtime.reports
    assert report.end_reason == "idle_timeout"
    # Greeting, idle_s of silence, goodbye. Counted from the call's start, the timeout
    # would fire during the greeting and the goodbye would follow it at once.
    spoken = speech_duration_s(greeting) + speech_duration_s(IDLE_MESSAGE)
    assert result.audio_received_s > spoken - 0.5, result
    assert result.duration_s > spoken + 0.75 * idle_s, result


async def test_the_hangup_api_ends_a_live_call(
    session_factory: Factory, suite: EmulatorSuite
) -> None:
    async with served(session_factory, suite, max_duration_s=60, idle_timeout_s=60) as (
        env,
        org_id,
    ):
        async with session_factory() as session:
            _, token = await issue_token(session, role=Role.OWNER, org_id=org_id)
            await session.commit()
        placed = asyncio.create_task(call(env, [], **LINGER))
        for _ in range(200):  # until the call is live (connected) on this worker
            if env.runtime.registry.active and (await stored_call(env)).status == "connected":
                break
            await asyncio.sleep(0.05)
        live = await stored_call(env)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=env.base + "/api/v1", headers=headers) as api:
            answer = await api.post(f"/calls/{live.id}/hangup")
        result = await asyncio.wait_for(placed, 30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["hung_up"] is True
    assert result.hung_up_by == "server"
    (report,) = env.runtime.reports
    assert report.end_reason == "hung_up_by_api"
    assert (await stored_call(env)).end_reason == "hung_up_by_api"
    assert len(twilio_hangups(env)) == 1


async def test_dtmf_reaches_the_pipeline_and_is_counted_on_the_call(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voxroute")
    async with open_line(env.base) as line:
        await line.wait_until_quiet(0.5, within_s=15)
        for digit in "42#":
            await line.send(line.message("dtmf", dtmf={"track": "inbound_track", "digit": digit}))
        await line.send(line.message("dtmf", dtmf={"digit": "x"}))  # not a keypad digit
        await asyncio.sleep(0.5)
        await line.send(line.message("stop", stop={"callSid": line.call_sid}))
        await asyncio.wait_for(line.closed.wait(), 10)
    await asyncio.wait_for(env.runtime.ended.wait(), 15)
    (report,) = env.runtime.reports
    assert report.end_reason == "caller_hung_up"
    stored = await stored_call(env)
    assert stored.latency["dtmf_count"] == 3
    # The bad digit is dropped; depending on timing a frame sent just after `stop` is too.
    assert stored.latency["rejected_messages"] >= 1
    messages = [r.getMessage() for r in caplog.records]
    dropped = [m for m in messages if "dropped a message" in m and "after stop" not in m]
    assert len(dropped) == 1, dropped
    received = [m for m in messages if "DTMF key received" in m]
    assert len(received) == 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_hangup_during_set_up_ends_the_call_before_any_audio(
    session_factory: Factory, suite: EmulatorSuite
) -> None:
    async with served(session_factory, suite) as (env, _):
        sessions: list[Any] = []
        original = env.runtime.resolve_stages

        async def slow_resolution(session: Any, call_row: Any) -> Any:
            sessions.append(call_row.id)
            assert await env.runtime.registry.hang_up(call_row.id, "hung_up_by_api")
            return await original(session, call_row)

        env.runtime.resolve_stages = slow_resolution  # type: ignore[method-assign]
        async with open_line(env.base) as line:
            await asyncio.wait_for(line.closed.wait(), 10)
        await asyncio.wait_for(env.runtime.ended.wait(), 10)
    (report,) = env.runtime.reports
    assert report.end_reason == "hung_up_by_api" and sessions == [report.call.call_id]
    assert not line.audio
    assert (await ended_call(env)).end_reason == "hung_up_by_api"
