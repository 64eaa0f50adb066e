"""Each built service runs briefly in a pipecat pipeline against its emulator.

The environment carries decoy platform keys (``OPENAI_API_KEY``, ``DEEPGRAM_API_KEY``, …)
throughout: the emulators' request logs must show the per-call key's id, never a decoy's.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import httpx2
import openai
import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    InputAudioRawFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.metrics.metrics import LLMUsageMetricsData
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.tests.utils import SleepFrame, run_test

from voxroute.emulators import EmulatorSuite
from voxroute.emulators._core import key_id_for
from voxroute.providers import (
    ErrorCategory,
    ProviderResources,
    build_llm,
    build_stt,
    build_tts,
    classify_error_frame,
    classify_exception,
    provider_error_from_frame,
)
from voxroute.providers.openai._client import make_async_openai
from voxroute.providers.resources import _CONNECT_TIMEOUT_S, _READ_TIMEOUT_S

from .conftest import StageFactory, read_pcm

DECOYS = {
    "OPENAI_API_KEY": "sk-decoy-platform-openai-000000",
    "DEEPGRAM_API_KEY": "decoy-platform-deepgram-000000",
    "ELEVENLABS_API_KEY": "decoy-platform-elevenlabs-0000",
    "CARTESIA_API_KEY": "decoy-platform-cartesia-000000",
    "XAI_API_KEY": "xai-decoy-platform-000000000000",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
}
RUN_TIMEOUT_S = 20


@pytest.fixture(autouse=True)
def decoy_environment(suite: EmulatorSuite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Platform keys in the environment, registered so a leak would be *accepted*."""
    for name, value in DECOYS.items():
        monkeypatch.setenv(name, value)
    for provider in ("openai", "deepgram", "elevenlabs", "cartesia", "xai"):
        for value in DECOYS.values():
            suite.register_key(provider, value)


def _served_by(suite: EmulatorSuite, provider: str) -> set[str | None]:
    return {record.key_id for record in suite.requests(provider)}


def _assert_only_call_key(suite: EmulatorSuite, provider: str, key_id: str) -> None:
    served = _served_by(suite, provider)
    assert served == {key_id}, f"{provider} served by {served}, expected only {key_id}"
    decoy_ids = {key_id_for(value) for value in DECOYS.values()}
    assert not served & decoy_ids


@pytest.mark.parametrize(
    "provider", ["deepgram", "elevenlabs", "cartesia", "inworld", "resemble", "openai"]
)
async def test_tts_service_speaks_with_the_call_key(
    suite: EmulatorSuite,
    resources: ProviderResources,
    make_stage: StageFactory,
    captured_logs: list[str],
    provider: str,
) -> None:
    stage, key_id = make_stage("tts", provider)
    service = build_tts(stage, sample_rate=16000, resources=resources)
    down, _ = await asyncio.wait_for(
        run_test(
            service,
            frames_to_send=[TTSSpeakFrame("Hello, thanks for calling."), SleepFrame(1.0)],
        ),
        RUN_TIMEOUT_S,
    )
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert not [f for f in down if isinstance(f, ErrorFrame)]
    assert audio and sum(len(f.audio) for f in audio) > 1000
    assert all(f.num_channels == 1 and len(f.audio) % 2 == 0 for f in audio)
    kinds = [type(f) for f in down]
    assert kinds.index(TTSStartedFrame) < kinds.index(TTSAudioRawFrame)
    assert TTSStoppedFrame in kinds
    _assert_only_call_key(suite, provider, key_id)
    assert captured_logs and stage.api_key.reveal() not in "\n".join(captured_logs)


@pytest.mark.parametrize("provider", ["openai", "xai"])
async def test_llm_service_streams_a_reply_with_usage_using_the_call_key(
    suite: EmulatorSuite, resources: ProviderResources, make_stage: StageFactory, provider: str
) -> None:
    stage, key_id = make_stage("llm", provider)
    service = build_llm(stage, resources=resources)
    context = LLMContext(messages=[{"role": "user", "content": "What time do you open?"}])
    down, _ = await asyncio.wait_for(
        run_test(
            service,
            frames_to_send=[LLMContextFrame(context=context)],
            pipeline_params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        ),
        RUN_TIMEOUT_S,
    )
    kinds = [type(f) for f in down]
    assert kinds.index(LLMFullResponseStartFrame) < kinds.index(LLMTextFrame)
    assert kinds.index(LLMTextFrame) < kinds.index(LLMFullResponseEndFrame)
    reply = "".join(f.text for f in down if isinstance(f, LLMTextFrame))
    assert "What time do you open?" in reply
    usage = [
        d
        for f in down
        if isinstance(f, MetricsFrame)
        for d in f.data
        if isinstance(d, LLMUsageMetricsData)
    ]
    assert usage and usage[0].value.prompt_tokens > 0
    _assert_only_call_key(suite, provider, key_id)


async def test_deepgram_stt_transcribes_telephony_audio_with_the_call_key(
    suite: EmulatorSuite, resources: ProviderResources, make_stage: StageFactory
) -> None:
    stage, key_id = make_stage("stt", "deepgram")
    pcm, rate = read_pcm("utterance-01.pcm16k.wav")
    # Telephony rate: decimate the 16 kHz clip to 8 kHz (every other sample).
    pcm8 = b"".join(pcm[i : i + 2] for i in range(0, len(pcm), 4))
    chunk = 320  # 20 ms at 8 kHz, 16-bit
    frames = [
        InputAudioRawFrame(audio=pcm8[i : i + chunk], sample_rate=8000, num_channels=1)
        for i in range(0, len(pcm8), chunk)
    ]
    frames += [InputAudioRawFrame(audio=b"\0" * chunk, sample_rate=8000, num_channels=1)] * 75
    service = build_stt(stage, sample_rate=8000, resources=resources)
    down, _ = await asyncio.wait_for(
        run_test(
            service,
            frames_to_send=[*frames, SleepFrame(1.0)],
            pipeline_params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
        ),
        RUN_TIMEOUT_S,
    )
    finals = [f for f in down if isinstance(f, TranscriptionFrame)]
    assert rate == 16000
    assert [f.text for f in finals] == [
        "Hello, I would like to book a table for two people tonight."
    ]
    _assert_only_call_key(suite, "deepgram", key_id)


async def test_a_revoked_key_is_refused_by_the_emulator_and_reported_as_an_error(
    suite: EmulatorSuite,
    resources: ProviderResources,
    make_stage: StageFactory,
    captured_logs: list[str],
) -> None:
    stage, _ = make_stage("tts", "openai", register=False)
    service = build_tts(stage, sample_rate=16000, resources=resources)
    down, up = await asyncio.wait_for(
        run_test(service, frames_to_send=[TTSSpeakFrame("Hello."), SleepFrame(0.3)]),
        RUN_TIMEOUT_S,
    )
    errors = [f for f in [*down, *up] if isinstance(f, ErrorFrame)]
    assert errors
    assert classify_error_frame(errors[0]) is ErrorCategory.AUTHENTICATION
    assert stage.api_key.reveal() not in provider_error_from_frame("OpenAI", errors[0]).message
    assert {r.status for r in suite.requests("openai")} == {401}
    key = stage.api_key.reveal()
    assert all(key not in f.error for f in errors)
    assert key not in "\n".join(captured_logs)


async def test_the_shared_openai_client_streams_over_aiohttp_and_maps_its_errors(
    suite: EmulatorSuite, resources: ProviderResources
) -> None:
    """OpenAI and xAI requests go through aiohttp's transport (the SDK's documented
    `DefaultAioHttpClient`); a connection cut mid-stream reaches the SDK as its own error,
    which is what the failover path classifies."""
    assert isinstance(resources.openai_http_client, openai.DefaultAioHttpClient)
    base_url = suite.base_urls["openai"] + "/v1"
    ok_key, cut_key = "sk-aiohttp-ok-0000000000", "sk-aiohttp-cut-000000000"
    suite.register_key("openai", ok_key)
    suite.register_key("openai", cut_key, fault={"disconnect": True})
    messages: list[Any] = [{"role": "user", "content": "What time do you open?"}]

    client = make_async_openai(
        api_key=ok_key, base_url=base_url, http_client=resources.openai_http_client
    )
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert "What time do you open?" in text

    client = make_async_openai(
        api_key=cut_key, base_url=base_url, http_client=resources.openai_http_client
    )
    with pytest.raises(openai.APIError):
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True
        )
        async for _ in stream:
            pass


async def test_the_shared_openai_client_has_the_configured_timeouts(
    resources: ProviderResources,
) -> None:
    timeout = resources.openai_http_client.timeout
    assert (timeout.connect, timeout.read) == (_CONNECT_TIMEOUT_S, _READ_TIMEOUT_S)


async def test_a_stalled_reply_fails_on_the_read_timeout_over_aiohttp(
    suite: EmulatorSuite, resources: ProviderResources
) -> None:
    """The SDK's timeout reaches aiohttp's transport: an LLM that never sends its first
    byte fails as a timeout (a connectivity failure, which fails over), not a hang."""
    slow_key = "sk-aiohttp-slow-00000000"
    suite.register_key("openai", slow_key, fault={"first_byte_delay_ms": 30_000})
    client = make_async_openai(
        api_key=slow_key,
        base_url=suite.base_urls["openai"] + "/v1",
        http_client=resources.openai_http_client,
    ).with_options(timeout=httpx2.Timeout(0.3), max_retries=0)

    with pytest.raises(openai.APITimeoutError) as raised:
        await asyncio.wait_for(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            ),
            RUN_TIMEOUT_S,
        )
    assert classify_exception(raised.value) is ErrorCategory.CONNECTIVITY
    assert slow_key not in str(raised.value)


async def test_an_unanswered_connect_fails_on_the_connect_timeout_over_aiohttp(
    resources: ProviderResources,
) -> None:
    """A host that never completes the TCP handshake: a listener whose accept queue is
    full (Linux drops the SYN) fails the request on the connect timeout. The read
    timeout is longer, so a request that got connected would fail differently."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            client = make_async_openai(
                api_key="sk-aiohttp-connect-00000",
                base_url=f"http://127.0.0.1:{port}/v1",
                http_client=resources.openai_http_client,
            ).with_options(timeout=httpx2.Timeout(5.0, connect=0.3), max_retries=0)
            with pytest.raises(openai.APITimeoutError) as raised:
                await asyncio.wait_for(
                    client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                    ),
                    RUN_TIMEOUT_S,
                )
        finally:
            for filler in fillers:
                filler.close()
    assert "connect" in repr(raised.value.__cause__).lower()
    assert classify_exception(raised.value) is ErrorCategory.CONNECTIVITY
