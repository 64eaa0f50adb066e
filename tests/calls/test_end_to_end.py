"""Whole calls over real sockets: softphone → uvicorn (voxroute) → provider emulators."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.calls.harness import (
    ACCOUNT_SID,
    AUDIO,
    AUTH_TOKEN,
    HELLO,
    NUMBER,
    ORG_KEYS,
    Env,
    Factory,
    call,
    default_stages,
    running_server,
    seed,
    stage,
    stored_call,
)
from voxroute.emulators import EmulatorSuite

SATURDAY = AUDIO / "utterance-02.pcm16k.wav"
GOODBYE = AUDIO / "utterance-04.ulaw8k.wav"


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
    assert {"stt_ms", "llm_input_tokens", "llm_output_tokens", "tts_characters"} <= set(
        report.usage
    )
    assert all(
        e.key_source == "organization" and e.call_id == report.call.call_id
        for e in env.runtime.usage
    )
    stored = await stored_call(env)
    assert stored.status == "ended" and stored.end_reason == "caller_hung_up"
    assert stored.latency.get("turns_ms")
    assert [t["stage"] for t in stored.resolution] == ["stt", "llm", "tts"]
    # Media came off the socket on the media lane (telephony/media_lane.py), none lost, and
    # the audio clock wrote most of the reply's frames there itself.
    assert stored.latency["media_frames"] >= 0.95 * result.media_frames_sent
    assert stored.latency["lane_messages"] >= 0.9 * stored.latency["media_frames"]
    assert stored.latency["lane_sent"] >= 0.8 * result.media_frames_received


async def test_a_server_without_the_media_lane_serves_calls_the_same(
    session_factory: Factory, suite: EmulatorSuite
) -> None:
    """uvicorn's plain websockets-sansio protocol offers no lane: everything takes the
    ASGI receive loop, and the call behaves the same."""
    await seed(session_factory, max_duration_s=60, idle_timeout_s=20)
    async with running_server(
        session_factory,
        twilio_api_base_url=suite.base_urls["twilio"],
        ws_protocol="websockets-sansio",
    ) as (base, runtime):
        runtime.stages = default_stages(suite)
        env = Env(base, runtime, suite, session_factory)
        result = await call(env, [HELLO])
    assert result.ok, result
    assert len(result.reply_latency_ms) >= 1
    assert result.marks_echoed
    stored = await stored_call(env)
    assert stored.end_reason == "caller_hung_up"
    assert stored.latency["lane_messages"] == 0
    assert stored.latency["lane_sent"] == 0
    assert stored.latency["media_frames"] >= 0.95 * result.media_frames_sent


async def test_marks_follow_each_bot_utterance_and_are_echoed(env: Env) -> None:
    result = await call(env, [HELLO])
    assert result.marks_received and result.marks_received[0] == "utt-1"
    assert result.marks_echoed[: len(result.marks_received)] == result.marks_received


def hangups(env: Env) -> list[dict]:
    return [c for c in env.suite.emulator("twilio").calls if c["status"] == "completed"]


async def test_saying_goodbye_makes_the_assistant_hang_up_through_twilio_rest(env: Env) -> None:
    env.suite.set_script(["Thank you, that is all. Goodbye."])
    result = await call(env, [GOODBYE], hang_up=False, reply_timeout_s=15)
    assert result.hung_up_by == "server", result
    assert result.audio_received_s > 1.0
    report = env.runtime.reports[0]
    assert report.end_reason == "assistant_ended"
    (hangup,) = hangups(env)
    assert hangup["call_sid"] == report.call.provider_call_id
    assert hangup["account_sid"] == ACCOUNT_SID
    assert (await stored_call(env)).end_reason == "assistant_ended"


async def test_caller_speech_over_the_bot_sends_clear(env: Env) -> None:
    result = await call(env, [HELLO, SATURDAY, HELLO], barge_in=True)
    assert result.ok
    assert result.clears >= 1


async def test_a_rejected_byo_key_under_strict_ends_the_call_without_reconnecting(
    env: Env,
) -> None:
    env.runtime.stages[0] = stage(
        "stt", "deepgram", "dg-revoked-key-0001", env.suite.base_urls["deepgram"]
    )
    result = await call(env, [HELLO], hang_up=False, reply_timeout_s=10)
    report = env.runtime.reports[0]
    assert report.end_reason == "provider_auth_failed:stt"
    assert env.runtime.credential_failures == [("stt", "cred_stt_0001", "authentication")]
    assert result.hung_up_by == "server"
    assert result.audio_received_s > 0.5  # the apology was spoken through the working TTS
    refused = [r for r in env.suite.requests("deepgram") if r.status == 401]
    assert 1 <= len(refused) <= 2
    assert ("managed", "stt") not in [(kind, st) for kind, st, _ in env.runtime.fallback_requests]
    assert len(hangups(env)) == 1


async def test_a_rate_limited_byo_llm_key_falls_back_to_managed_when_allowed(
    session_factory: Factory, suite: EmulatorSuite
) -> None:
    await seed(session_factory, failure_policy="fallback_to_managed")
    suite.register_key("openai", "sk-org-limited-0001", fault={"status": 429})
    suite.register_key("openai", "sk-platform-managed-1")
    async with running_server(session_factory, twilio_api_base_url=suite.base_urls["twilio"]) as (
        base,
        runtime,
    ):
        runtime.stages = default_stages(suite)
        runtime.stages[1] = stage("llm", "openai", "sk-org-limited-0001", suite.base_urls["openai"])
        runtime.managed["llm"] = stage(
            "llm", "openai", "sk-platform-managed-1", suite.base_urls["openai"], credential_id=None
        )
        env = Env(base, runtime, suite, session_factory)
        result = await call(env, [HELLO])
    assert result.ok and result.reply_latency_ms
    (report,) = runtime.reports
    llm = next(t for t in report.resolution if t["stage"] == "llm")
    assert llm["source"] == "managed_fallback" and llm["fallback_reason"] == "rate_limited"
    assert llm["previous"][0]["credential_id"] == "cred_llm_0001"
    assert any(e.stage == "llm" and e.key_source == "managed_fallback" for e in runtime.usage)
    assert ("llm", "cred_llm_0001", "rate_limit") in runtime.credential_failures


async def test_a_rate_limited_pool_key_fails_over_to_the_next_key_of_the_pool(
    env: Env,
) -> None:
    env.suite.register_key("openai", "sk-org-pool-a-0001", fault={"status": 429})
    env.suite.register_key("openai", "sk-org-pool-b-0002")
    base = env.suite.base_urls["openai"]
    env.runtime.stages[1] = stage("llm", "openai", "sk-org-pool-a-0001", base)
    env.runtime.pools["llm"] = [stage("llm", "openai", "sk-org-pool-b-0002", base)]
    result = await call(env, [HELLO])
    assert result.ok and result.reply_latency_ms
    llm = next(t for t in env.runtime.reports[0].resolution if t["stage"] == "llm")
    assert llm["source"] == "organization" and llm["credential_id"] == "cred_llm_0002"
    assert not [r for r in env.runtime.fallback_requests if r[0] == "managed"]


@pytest.fixture
async def emulator_process(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """`voxroute emulators` in its own process (as the providers are, in production): the
    20 calls below measure voxroute, not emulators sharing its event loop."""
    keys = {provider: [key] for provider, key in ORG_KEYS.items()}
    keys["twilio"] = [{"api_key": AUTH_TOKEN, "account_sid": ACCOUNT_SID}]
    keys_file = tmp_path / "emulator-keys.json"
    keys_file.write_text(json.dumps(keys))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from voxroute.cli import main; raise SystemExit(main())",
        "emulators",
        "--keys-file",
        str(keys_file),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        yield json.loads(line)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)


async def test_twenty_concurrent_calls_in_one_process(
    session_factory: Factory, emulator_process: dict[str, str]
) -> None:
    """voxroute serves 20 calls in this process; the 20 callers run in a child process,
    as Twilio would be elsewhere, and the providers (emulators) in another."""
    urls = emulator_process
    await seed(session_factory, max_duration_s=120, idle_timeout_s=60)
    async with running_server(session_factory, twilio_api_base_url=urls["twilio"]) as (
        base,
        runtime,
    ):
        runtime.stages = [
            stage("stt", "deepgram", ORG_KEYS["deepgram"], urls["deepgram"]),
            stage("llm", "openai", ORG_KEYS["openai"], urls["openai"]),
            stage("tts", "cartesia", ORG_KEYS["cartesia"], urls["cartesia"]),
        ]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "voxroute.softphone",
            "--json",
            "--url",
            base,
            "--number",
            NUMBER,
            "--account-sid",
            ACCOUNT_SID,
            "--wav",
            str(HELLO),
            "--calls",
            "20",
            "--stagger-ms",
            "50",
            "--pause-s",
            "0",
            "--quiet-s",
            "0.5",
            "--initial-wait-s",
            "0.2",
            "--reply-timeout-s",
            "30",
            env={**os.environ, "VOXROUTE_SOFTPHONE_AUTH_TOKEN": AUTH_TOKEN},
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 180)
        results = json.loads(out)
        for _ in range(300):
            if len(runtime.reports) == 20:
                break
            await asyncio.sleep(0.1)
    assert len(results) == 20
    assert all(r["error"] is None and r["webhook_status"] == 200 for r in results), results
    # Every call is admitted, answered (first message heard, its mark echoed), gets a spoken
    # reply to what the caller said, and ends once. Latency is a benchmark figure (DESIGN §9).
    assert all(r["audio_received_s"] > 0.5 and r["marks_echoed"] for r in results)
    assert all(r["reply_latency_ms"] for r in results), [r["reply_latency_ms"] for r in results]
    assert len(runtime.reports) == 20
    assert {r.end_reason for r in runtime.reports} == {"caller_hung_up"}
    assert len({r.call.call_id for r in runtime.reports}) == 20
    assert all(r.usage.get("llm_output_tokens") for r in runtime.reports)
