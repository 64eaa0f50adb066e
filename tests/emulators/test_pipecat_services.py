"""pipecat services, pointed at the emulators with an explicit key, produce well-formed frames."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    LLMContextFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.azure.stt import AzureSTTService
from pipecat.services.azure.tts import AzureTTSService
from pipecat.services.cartesia.tts import CartesiaTTSService
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.deepgram.tts import DeepgramHttpTTSService, DeepgramTTSService
from pipecat.services.elevenlabs.tts import ElevenLabsHttpTTSService, ElevenLabsTTSService
from pipecat.services.inworld.tts import InworldTTSService
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.openai.tts import OpenAITTSService
from pipecat.services.resembleai.tts import ResembleAITTSService
from pipecat.services.xai.llm import GrokLLMService
from pipecat.tests.utils import SleepFrame, run_test

from voxroute.emulators import EmulatorSuite

from .conftest import read_clip

TEXT = "Hello from the emulator."


def ws(suite: EmulatorSuite, provider: str) -> str:
    return suite.base_urls[provider].replace("http://", "ws://")


async def run(service: FrameProcessor, frames: Sequence[Frame], settle: float = 0.5) -> list[Frame]:
    down, up = await run_test(service, frames_to_send=[*frames, SleepFrame(settle)])
    errors = [f for f in [*down, *up] if isinstance(f, ErrorFrame)]
    assert not errors, errors
    return list(down)


def audio_of(frames: Sequence[Frame], sample_rate: int) -> bytes:
    chunks = [f for f in frames if isinstance(f, TTSAudioRawFrame)]
    assert chunks, f"no TTSAudioRawFrame in {[type(f).__name__ for f in frames]}"
    assert all(f.sample_rate == sample_rate and f.num_channels == 1 for f in chunks)
    return b"".join(f.audio for f in chunks)


def assert_tone_for(text: str, audio: bytes, sample_rate: int) -> None:
    expected = round(0.06 * len(text) * sample_rate) * 2
    assert abs(len(audio) - expected) <= 0.02 * expected + 64, (len(audio), expected)
    assert max(audio[1::2]) > 0x10, "audio is not silence"


async def test_deepgram_stt_service_transcribes_a_clip(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("deepgram", "dg-pipecat-key-000000")
    suite.set_script(["Can you transfer me to a human agent, please?"])
    clip = read_clip("utterance-03.pcm16k.wav")
    silence = b"\x00" * 640
    audio = [
        InputAudioRawFrame(clip.data[i : i + 640], 16000, 1) for i in range(0, len(clip.data), 640)
    ] + [InputAudioRawFrame(silence, 16000, 1)] * 30
    service = DeepgramSTTService(
        api_key="dg-pipecat-key-000000", base_url=suite.base_urls["deepgram"]
    )
    frames = await run(service, audio)
    finals = [f for f in frames if isinstance(f, TranscriptionFrame)]
    assert [f.text for f in finals] == ["Can you transfer me to a human agent, please?"]
    assert {r.key_id for r in suite.requests("deepgram")} == {key_id}


async def test_openai_llm_service_streams_text_and_usage(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("openai", "sk-pipecat-llm-000000")
    service = OpenAILLMService(
        api_key="sk-pipecat-llm-000000", base_url=suite.base_urls["openai"] + "/v1"
    )
    context = LLMContext(messages=[{"role": "user", "content": "What time is it?"}])
    frames = await run(service, [LLMContextFrame(context)])
    text = "".join(f.text for f in frames if isinstance(f, LLMTextFrame))
    assert text == 'You said: "What time is it?". How else can I help?'
    assert [(r.path, r.key_id) for r in suite.requests("openai")] == [
        ("/v1/chat/completions", key_id)
    ]


async def test_grok_llm_service_streams_text(suite: EmulatorSuite) -> None:
    suite.register_key("xai", "xai-pipecat-000000")
    service = GrokLLMService(api_key="xai-pipecat-000000", base_url=suite.base_urls["xai"] + "/v1")
    context = LLMContext(messages=[{"role": "user", "content": "Hi"}])
    frames = await run(service, [LLMContextFrame(context)])
    assert "".join(f.text for f in frames if isinstance(f, LLMTextFrame)).startswith("You said")


async def test_elevenlabs_websocket_tts_service_produces_audio(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("elevenlabs", "el-pipecat-000000")
    service = ElevenLabsTTSService(
        api_key="el-pipecat-000000",
        url=ws(suite, "elevenlabs"),
        settings=ElevenLabsTTSService.Settings(voice="21m00Tcm4TlvDq8ikWAM"),
    )
    frames = await run(service, [TTSSpeakFrame(TEXT)])
    assert_tone_for(TEXT, audio_of(frames, 24000), 24000)
    [record] = suite.requests("elevenlabs")
    assert record.path.endswith("/multi-stream-input") and record.key_id == key_id


async def test_elevenlabs_http_tts_service_produces_audio(suite: EmulatorSuite) -> None:
    suite.register_key("elevenlabs", "el-pipecat-000000")
    async with aiohttp.ClientSession() as session:
        service = ElevenLabsHttpTTSService(
            api_key="el-pipecat-000000",
            base_url=suite.base_urls["elevenlabs"],
            aiohttp_session=session,
            settings=ElevenLabsHttpTTSService.Settings(voice="21m00Tcm4TlvDq8ikWAM"),
        )
        frames = await run(service, [TTSSpeakFrame(TEXT)])
    assert_tone_for(TEXT, audio_of(frames, 24000), 24000)


async def test_cartesia_tts_service_produces_audio(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("cartesia", "sk_car_pipecat_000000")
    service = CartesiaTTSService(
        api_key="sk_car_pipecat_000000",
        url=ws(suite, "cartesia") + "/tts/websocket",
        settings=CartesiaTTSService.Settings(voice="a0e99841-438c-4a64-b679-ae501e7d6091"),
    )
    frames = await run(service, [TTSSpeakFrame(TEXT)])
    assert_tone_for(TEXT, audio_of(frames, 24000), 24000)
    assert [r.key_id for r in suite.requests("cartesia")] == [key_id]


async def test_deepgram_tts_services_produce_audio(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("deepgram", "dg-pipecat-tts-000000")
    service = DeepgramTTSService(api_key="dg-pipecat-tts-000000", base_url=ws(suite, "deepgram"))
    assert_tone_for(TEXT, audio_of(await run(service, [TTSSpeakFrame(TEXT)]), 24000), 24000)
    async with aiohttp.ClientSession() as session:
        http = DeepgramHttpTTSService(
            api_key="dg-pipecat-tts-000000",
            aiohttp_session=session,
            base_url=suite.base_urls["deepgram"],
        )
        assert_tone_for(TEXT, audio_of(await run(http, [TTSSpeakFrame(TEXT)]), 24000), 24000)
    assert [(r.method, r.path, r.key_id) for r in suite.requests("deepgram")] == [
        ("GET", "/v1/speak", key_id),
        ("POST", "/v1/speak", key_id),
    ]


async def test_openai_tts_service_produces_audio(suite: EmulatorSuite) -> None:
    suite.register_key("openai", "sk-pipecat-tts-000000")
    service = OpenAITTSService(
        api_key="sk-pipecat-tts-000000", base_url=suite.base_urls["openai"] + "/v1"
    )
    assert_tone_for(TEXT, audio_of(await run(service, [TTSSpeakFrame(TEXT)]), 24000), 24000)


async def test_inworld_tts_service_produces_audio(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("inworld", "aW53b3JsZC1waXBlY2F0OnNlY3JldA==")
    service = InworldTTSService(
        api_key="aW53b3JsZC1waXBlY2F0OnNlY3JldA==",
        url=ws(suite, "inworld") + "/tts/v1/voice:streamBidirectional",
        settings=InworldTTSService.Settings(voice="Ashley"),
    )
    assert_tone_for(TEXT, audio_of(await run(service, [TTSSpeakFrame(TEXT)]), 24000), 24000)
    assert [r.key_id for r in suite.requests("inworld")] == [key_id]


async def test_resemble_tts_service_produces_audio(suite: EmulatorSuite) -> None:
    suite.register_key("resemble", "resemble-pipecat-000000")
    service = ResembleAITTSService(
        api_key="resemble-pipecat-000000",
        url=ws(suite, "resemble") + "/stream",
        sample_rate=24000,
        settings=ResembleAITTSService.Settings(voice="55592656"),
    )
    assert_tone_for(TEXT, audio_of(await run(service, [TTSSpeakFrame(TEXT)]), 24000), 24000)


async def test_azure_tts_service_produces_audio_over_usp(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("azure", "azure-pipecat-key-000000", region="eastus")
    endpoint = ws(suite, "azure") + "/eastus/cognitiveservices/websocket/v1"
    service = AzureTTSService(
        api_key="azure-pipecat-key-000000",
        private_endpoint=endpoint,
        settings=AzureTTSService.Settings(voice="en-US-AvaMultilingualNeural"),
    )
    assert_tone_for(
        TEXT, audio_of(await run(service, [TTSSpeakFrame(TEXT)], settle=1.0), 24000), 24000
    )
    assert {r.key_id for r in suite.requests("azure")} == {key_id}


async def test_azure_stt_service_transcribes_over_usp(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("azure", "azure-pipecat-key-000000", region="eastus")
    suite.set_script(["Thank you, that is all. Goodbye."], provider="azure")
    endpoint = ws(suite, "azure") + "/eastus/speech/recognition/conversation/cognitiveservices/v1"
    clip = read_clip("utterance-04.pcm16k.wav")
    audio = [
        InputAudioRawFrame(clip.data[i : i + 640], 16000, 1) for i in range(0, len(clip.data), 640)
    ]
    audio += [InputAudioRawFrame(b"\x00" * 640, 16000, 1)] * 40
    service = AzureSTTService(api_key="azure-pipecat-key-000000", private_endpoint=endpoint)
    frames = await run(service, audio, settle=1.0)
    assert [f.text for f in frames if isinstance(f, TranscriptionFrame)] == [
        "Thank you, that is all. Goodbye."
    ]
    assert {r.key_id for r in suite.requests("azure")} == {key_id}
