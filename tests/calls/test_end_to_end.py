"""Whole calls over real sockets: softphone → uvicorn (voxroute) → provider emulators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.calls.harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    NUMBER,
    FakeRuntime,
    running_server,
    seed,
    stage,
)
from voxroute.db.models import Call
from voxroute.emulators import EmulatorSuite
from voxroute.softphone import CallResult, place_call

AUDIO = Path(__file__).parents[1] / "data" / "audio"
HELLO = AUDIO / "utterance-01.ulaw8k.wav"
SATURDAY = AUDIO / "utterance-02.pcm16k.wav"
GOODBYE = AUDIO / "utterance-04.ulaw8k.wav"
Factory = async_sessionmaker[AsyncSession]


@dataclass
class Env:
    base: str
    runtime: FakeRuntime
    suite: EmulatorSuite
    factory: Factory


@pytest.fixture
async def suite() -> AsyncIterator[EmulatorSuite]:
    async with EmulatorSuite.start() as started:
        started.register_key("deepgram", "dg-org-key-000001")
        started.register_key("openai", "sk-org-key-000001")
        started.register_key("cartesia", "ca-org-key-000001")
        started.register_key("twilio", AUTH_TOKEN, account_sid=ACCOUNT_SID)
        yield started


def default_stages(suite: EmulatorSuite) -> list:
    return [
        stage("stt", "deepgram", "dg-org-key-000001", suite.base_urls["deepgram"]),
        stage("llm", "openai", "sk-org-key-000001", suite.base_urls["openai"]),
        stage("tts", "cartesia", "ca-org-key-000001", suite.base_urls["cartesia"]),
    ]


@pytest.fixture
async def env(session_factory: Factory, suite: EmulatorSuite) -> AsyncIterator[Env]:
    await seed(session_factory, max_duration_s=60, idle_timeout_s=20)
    async with running_server(
        session_factory, twilio_api_base_url=suite.base_urls["twilio"]
    ) as (base, runtime):
        runtime.stages = default_stages(suite)
        yield Env(base, runtime, suite, session_factory)


async def call(env: Env, wavs: list[Path], **options: object) -> CallResult:
    result = await place_call(env.base, NUMBER, CALLER, ACCOUNT_SID, AUTH_TOKEN, wavs, **options)
    await asyncio.wait_for(env.runtime.ended.wait(), 15)
    return result


async def stored_call(env: Env) -> Call:
    async with env.factory() as s:
        return (await s.execute(select(Call))).scalar_one()


async def test_a_caller_utterance_gets_a_spoken_reply_and_usage_is_metered(
    env: Env, tmp_path: Path
) -> None:
    result = await call(env, [HELLO], record_path=tmp_path / "heard.wav")
    assert result.ok, result
    assert result.setup_ms is not None
    assert len(result.reply_latency_ms) >= 1
    assert result.audio_received_s > 1.0
    assert (tmp_path / "heard.wav").stat().st_size > 8000
    report = env.runtime.reports[0]
    assert report.end_reason == "caller_hung_up"
    assert {"stt_seconds", "llm_input_tokens", "llm_output_tokens", "tts_characters"} <= set(
        report.usage
    )
    assert all(e.source == "organization" and e.call_id == report.call.call_id
               for e in env.runtime.usage)
    stored = await stored_call(env)
    assert stored.status == "ended" and stored.end_reason == "caller_hung_up"
    assert stored.latency.get("turns_ms")
    assert [t["stage"] for t in stored.resolution] == ["stt", "llm", "tts"]


async def test_marks_follow_each_bot_utterance_and_are_echoed(env: Env) -> None:
    result = await call(env, [HELLO])
    assert result.marks_received and result.marks_received[0] == "utt-1"
    assert result.marks_echoed[: len(result.marks_received)] == result.marks_received
