"""Adapters build the right pipecat class with the per-call key and the overridden endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.services.azure.stt import AzureSTTService
from pipecat.services.azure.tts import AzureTTSService
from pipecat.services.cartesia.tts import CartesiaTTSService
from pipecat.services.deepgram import stt as pipecat_deepgram_stt
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.deepgram.tts import DeepgramTTSService
from pipecat.services.elevenlabs.tts import ElevenLabsTTSService
from pipecat.services.inworld.tts import InworldTTSService
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.openai.tts import OpenAITTSService
from pipecat.services.resembleai.tts import ResembleAITTSService
from pipecat.services.xai.llm import GrokLLMService

from voxroute.errors import InvalidInput, KeyNotFound
from voxroute.providers import ProviderResources, build_llm, build_stt, build_tts
from voxroute.routing.types import ResolvedStage
from voxroute.vault.secret import Secret

from .conftest import StageFactory

RATE = 8000

TTS_CASES: list[tuple[str, type, str, str]] = [
    # provider, pipecat class, attribute holding the endpoint, expected endpoint suffix
    ("deepgram", DeepgramTTSService, "_base_url", ""),
    ("elevenlabs", ElevenLabsTTSService, "_url", ""),
    ("cartesia", CartesiaTTSService, "_url", "/tts/websocket"),
    ("inworld", InworldTTSService, "_url", "/tts/v1/voice:streamBidirectional"),
    ("resemble", ResembleAITTSService, "_url", "/stream"),
]


def _ws(base: str) -> str:
    return base.replace("http://", "ws://", 1)


@pytest.mark.parametrize(("provider", "cls", "attr", "suffix"), TTS_CASES)
def test_websocket_tts_services_get_the_call_key_and_the_ws_form_of_the_override(
    make_stage: StageFactory,
    resources: ProviderResources,
    provider: str,
    cls: type,
    attr: str,
    suffix: str,
) -> None:
    stage, _ = make_stage("tts", provider, register=False)
    service = build_tts(stage, sample_rate=RATE, resources=resources)
    assert type(service) is cls
    assert service._api_key == stage.api_key.reveal()
    assert getattr(service, attr) == _ws(stage.base_url or "") + suffix


def test_deepgram_stt_uses_our_environment_the_call_key_and_the_shared_http_client(
    make_stage: StageFactory, resources: ProviderResources
) -> None:
    stage, _ = make_stage("stt", "deepgram", register=False)
    service = build_stt(stage, sample_rate=RATE, resources=resources)
    assert isinstance(service, DeepgramSTTService)
    wrapper = service._client._client_wrapper
    assert wrapper.api_key == stage.api_key.reveal()
    environment = wrapper.get_environment()
    assert environment.production == _ws(stage.base_url or "")
    assert environment.base == stage.base_url
    assert wrapper.httpx_client.httpx_client is resources.httpx_client
    assert service._encoding == "linear16" and service.sample_rate in (0, RATE)


def test_deepgram_stt_restores_pipecats_client_factory_after_each_build(
    make_stage: StageFactory, resources: ProviderResources
) -> None:
    original = pipecat_deepgram_stt.AsyncDeepgramClient
    stage, _ = make_stage("stt", "deepgram", register=False)
    build_stt(stage, sample_rate=RATE, resources=resources)
    assert pipecat_deepgram_stt.AsyncDeepgramClient is original


@pytest.mark.parametrize(
    ("provider", "cls"), [("openai", OpenAILLMService), ("xai", GrokLLMService)]
)
def test_llm_services_use_the_call_key_the_v1_endpoint_and_the_shared_client(
    make_stage: StageFactory, resources: ProviderResources, provider: str, cls: type
) -> None:
    stage, _ = make_stage("llm", provider, register=False)
    service = build_llm(stage, resources=resources)
    assert isinstance(service, cls)
    client = service._client
    assert client.api_key == stage.api_key.reveal()
    assert str(client.base_url).rstrip("/") == f"{stage.base_url}/v1"
    assert client._client is resources.openai_http_client
    assert service._settings.model == stage.model


def test_openai_tts_uses_the_call_key_and_the_shared_client(
    make_stage: StageFactory, resources: ProviderResources
) -> None:
    stage, _ = make_stage("tts", "openai", register=False)
    service = build_tts(stage, sample_rate=RATE, resources=resources)
    assert isinstance(service, OpenAITTSService)
    assert service._client.api_key == stage.api_key.reveal()
    assert str(service._client.base_url).rstrip("/") == f"{stage.base_url}/v1"
    assert service._client._client is resources.openai_http_client


def test_openai_clients_ignore_organization_and_project_from_the_environment(
    make_stage: StageFactory, resources: ProviderResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-platform")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-platform")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://platform.invalid/v1")
    llm_stage, _ = make_stage("llm", "openai", register=False)
    tts_stage, _ = make_stage("tts", "openai", register=False)
    for client in (
        build_llm(llm_stage, resources=resources)._client,
        build_tts(tts_stage, sample_rate=RATE, resources=resources)._client,
    ):
        assert client.organization is None and client.project is None
        assert "platform.invalid" not in str(client.base_url)


def test_azure_services_are_constructed_with_a_region_prefixed_private_endpoint(
    make_stage: StageFactory, resources: ProviderResources
) -> None:
    stt_stage, _ = make_stage("stt", "azure", register=False)
    tts_stage, _ = make_stage("tts", "azure", register=False)
    stt = build_stt(stt_stage, sample_rate=RATE, resources=resources)
    tts = build_tts(tts_stage, sample_rate=RATE, resources=resources)
    assert isinstance(stt, AzureSTTService) and isinstance(tts, AzureTTSService)
    assert tts._api_key == tts_stage.api_key.reveal()
    assert tts._private_endpoint.startswith(_ws(f"{tts_stage.base_url}/eastus/"))
    assert tts._settings.voice == "en-US-AvaMultilingualNeural"


def test_azure_against_the_real_service_is_addressed_by_region(
    resources: ProviderResources,
) -> None:
    stage = ResolvedStage(
        stage="tts",
        provider="azure",
        model="azure-neural",
        source="organization",
        secrets={"api_key": Secret("azure-key-0123456789")},
        public_fields={"region": "westeurope"},
    )
    service = build_tts(stage, sample_rate=RATE, resources=resources)
    assert service._region == "westeurope" and service._private_endpoint is None


def _stage(provider: str, stage: str = "tts", **kwargs: Any) -> ResolvedStage:
    fields: dict[str, Any] = {
        "stage": stage,
        "provider": provider,
        "model": "m",
        "source": "managed",
        "secrets": {},
        "base_url": "http://127.0.0.1:9",
    }
    fields.update(kwargs)
    return ResolvedStage(**fields)


@pytest.mark.parametrize(
    ("stage_name", "provider"),
    [
        ("stt", "deepgram"),
        ("llm", "openai"),
        ("llm", "xai"),
        ("tts", "cartesia"),
        ("tts", "inworld"),
    ],
)
def test_a_missing_secret_raises_key_not_found_before_anything_is_built(
    resources: ProviderResources, stage_name: str, provider: str
) -> None:
    stage = _stage(provider, stage_name, secrets={"api_key": Secret("")})
    build = {"stt": build_stt, "tts": build_tts}.get(stage_name)
    with pytest.raises(KeyNotFound):
        if build is None:
            build_llm(stage, resources=resources)
        else:
            build(stage, sample_rate=RATE, resources=resources)


def test_azure_without_a_region_raises_key_not_found(resources: ProviderResources) -> None:
    stage = _stage("azure", secrets={"api_key": Secret("azure-key-0123456789")})
    with pytest.raises(KeyNotFound):
        build_tts(stage, sample_rate=RATE, resources=resources)


def test_an_unknown_provider_or_a_stage_of_another_modality_is_invalid_input(
    resources: ProviderResources,
) -> None:
    key = {"api_key": Secret("some-key-0123456789")}
    with pytest.raises(InvalidInput):
        build_tts(_stage("xai", secrets=key), sample_rate=RATE, resources=resources)
    with pytest.raises(InvalidInput):
        build_stt(_stage("deepgram", "tts", secrets=key), sample_rate=RATE, resources=resources)


async def test_shared_resources_are_reused_across_builds_and_refused_once_closed(
    make_stage: StageFactory,
) -> None:
    resources = await ProviderResources.create()
    stage, _ = make_stage("llm", "openai", register=False)
    first, second = build_llm(stage, resources=resources), build_llm(stage, resources=resources)
    assert first._client is not second._client
    assert first._client._client is second._client._client is resources.openai_http_client
    await resources.aclose()
    await resources.aclose()  # idempotent
    with pytest.raises(RuntimeError):
        build_llm(stage, resources=resources)
