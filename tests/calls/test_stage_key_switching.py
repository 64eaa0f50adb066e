"""Key switching mid-call for the streaming stages (STT, TTS), over real sockets.

The LLM cases live in `test_end_to_end.py`; these prove the adapter-built websocket
services are re-pointed at a new key and reconnect, without rebuilding the pipeline.
"""

from __future__ import annotations

from tests.calls.harness import (
    HELLO,
    Env,
    Factory,
    call,
    default_stages,
    running_server,
    seed,
    stage,
)
from voxroute.emulators import EmulatorSuite


def _keys_answered(suite: EmulatorSuite, provider: str, status: int) -> set[str | None]:
    return {r.key_id for r in suite.requests(provider) if r.status == status}


async def test_a_rate_limited_stt_pool_key_fails_over_to_the_next_key_of_the_pool(
    env: Env,
) -> None:
    base = env.suite.base_urls["deepgram"]
    env.suite.register_key("deepgram", "dg-org-pool-a-0001", fault={"status": 429})
    env.suite.register_key("deepgram", "dg-org-pool-b-0002")
    env.runtime.stages[0] = stage("stt", "deepgram", "dg-org-pool-a-0001", base)
    env.runtime.pools["stt"] = [stage("stt", "deepgram", "dg-org-pool-b-0002", base)]

    result = await call(env, [HELLO], reply_timeout_s=10)

    assert result.ok and result.reply_latency_ms, result  # the new key transcribed the caller
    (report,) = env.runtime.reports
    assert report.end_reason == "caller_hung_up"
    stt = next(t for t in report.resolution if t["stage"] == "stt")
    assert stt["credential_id"] == "cred_stt_0002" and stt["source"] == "organization"
    assert stt["previous"][0]["credential_id"] == "cred_stt_0001"
    assert ("stt", "cred_stt_0001", "rate_limit") in env.runtime.credential_failures
    assert not [r for r in env.runtime.fallback_requests if r[0] == "managed"]
    refused, served = (_keys_answered(env.suite, "deepgram", s) for s in (429, 101))
    assert refused and served and not refused & served  # another key served the call


async def test_a_rate_limited_byo_tts_key_falls_back_to_managed_when_allowed(
    session_factory: Factory, suite: EmulatorSuite
) -> None:
    await seed(session_factory, failure_policy="fallback_to_managed")
    base = suite.base_urls["cartesia"]
    suite.register_key("cartesia", "ca-org-limited-0001", fault={"status": 429})
    suite.register_key("cartesia", "ca-platform-managed-1")
    async with running_server(session_factory, twilio_api_base_url=suite.base_urls["twilio"]) as (
        url,
        runtime,
    ):
        runtime.stages = default_stages(suite)
        runtime.stages[2] = stage("tts", "cartesia", "ca-org-limited-0001", base)
        runtime.managed["tts"] = stage(
            "tts", "cartesia", "ca-platform-managed-1", base, credential_id=None
        )
        result = await call(Env(url, runtime, suite, session_factory), [HELLO])

    assert result.ok and result.reply_latency_ms, result  # the reply was spoken (managed key)
    assert result.audio_received_s > 0.5
    (report,) = runtime.reports
    tts = next(t for t in report.resolution if t["stage"] == "tts")
    assert tts["source"] == "managed_fallback" and tts["fallback_reason"] == "rate_limited"
    assert tts["previous"][0]["credential_id"] == "cred_tts_0001"
    assert any(e.stage == "tts" and e.key_source == "managed_fallback" for e in runtime.usage)
    assert ("tts", "cred_tts_0001", "rate_limit") in runtime.credential_failures
    refused, served = (_keys_answered(suite, "cartesia", s) for s in (429, 101))
    assert refused and served and not refused & served
