"""Values from an assistant config that reach a provider URL (voice, model, language) are
checked against the catalog's formats and encoded before any service is built: a `../`
voice id never makes a request to another path of the provider (with whichever key)."""

from __future__ import annotations

from typing import Any

import pytest

from voxroute.emulators import EmulatorSuite
from voxroute.errors import InvalidInput
from voxroute.providers import ProviderResources, build_llm, build_stt, build_tts
from voxroute.providers._stage import url_component, voice_for

from .conftest import StageFactory

TRAVERSAL = "../../../v1/convai/conversation?agent_id=agent_1"

HOSTILE: list[tuple[str, str, dict[str, Any]]] = [
    ("tts", "elevenlabs", {"voice_id": TRAVERSAL}),
    ("tts", "elevenlabs", {"model": "eleven_flash_v2_5/../../v1/user"}),
    ("tts", "deepgram", {"voice_id": "aura-2-thalia-en&callback=http://evil"}),
    ("tts", "cartesia", {"voice_id": TRAVERSAL}),
    ("tts", "cartesia", {"language": "en/../x"}),
    ("tts", "inworld", {"voice_id": TRAVERSAL}),
    ("tts", "resemble", {"voice_id": TRAVERSAL}),
    ("tts", "azure", {"voice_id": "en-US-JennyNeural'/><voice name='x"}),
    ("tts", "openai", {"voice_id": TRAVERSAL}),
    ("tts", "openai", {"model": "../files"}),
    ("stt", "deepgram", {"model": "nova-3-general?redact=false"}),
    ("stt", "deepgram", {"language": "en&keywords=x"}),
    ("stt", "azure", {"language": "../x"}),
    ("llm", "openai", {"model": "../../v1/files"}),
    ("llm", "xai", {"model": "grok/../../v1/files"}),
]


@pytest.mark.parametrize(("stage_name", "provider", "values"), HOSTILE)
def test_hostile_url_values_are_refused_before_any_request(
    make_stage: StageFactory,
    resources: ProviderResources,
    suite: EmulatorSuite,
    stage_name: str,
    provider: str,
    values: dict[str, Any],
) -> None:
    model = values.pop("model", None)
    stage, _ = make_stage(stage_name, provider, model=model, **values)
    with pytest.raises(InvalidInput):
        if stage_name == "llm":
            build_llm(stage, resources=resources)
        elif stage_name == "stt":
            build_stt(stage, sample_rate=8000, resources=resources)
        else:
            build_tts(stage, sample_rate=8000, resources=resources)
    assert suite.requests(provider) == []


@pytest.mark.parametrize(
    ("provider", "voice"),
    [
        ("elevenlabs", "21m00Tcm4TlvDq8ikWAM"),
        ("cartesia", "a0e99841-438c-4a64-b679-ae501e7d6091"),
        ("azure", "en-US-JennyNeural"),
        ("deepgram", "aura-2-helena-en"),
    ],
)
def test_catalog_shaped_voices_pass_unchanged(
    make_stage: StageFactory, provider: str, voice: str
) -> None:
    stage, _ = make_stage("tts", provider, voice_id=voice)
    assert voice_for(stage) == voice


def test_url_components_are_percent_encoded() -> None:
    assert url_component("a/../b?c=d&e#f") == "a%2F..%2Fb%3Fc%3Dd%26e%23f"
