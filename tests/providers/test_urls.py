"""Base-URL conventions: one helper for http→ws, region-scoped Azure URLs."""

from __future__ import annotations

import pytest

from voxroute.errors import ConfigError, InvalidInput
from voxroute.providers.azure._endpoints import (
    issue_token_url,
    stt_private_endpoint,
    tts_private_endpoint,
)
from voxroute.providers.urls import join_url, resolve_base, to_ws


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080"),
        ("https://api.elevenlabs.io", "wss://api.elevenlabs.io"),
        ("ws://127.0.0.1:1/x?y=1", "ws://127.0.0.1:1/x?y=1"),
        ("wss://api.deepgram.com", "wss://api.deepgram.com"),
        ("http://[::1]:9/path", "ws://[::1]:9/path"),
    ],
)
def test_to_ws_swaps_only_the_scheme(url: str, expected: str) -> None:
    assert to_ws(url) == expected


@pytest.mark.parametrize("url", ["ftp://host", "127.0.0.1:80", "http://", "javascript:x"])
def test_to_ws_refuses_anything_that_is_not_an_http_or_ws_url(url: str) -> None:
    with pytest.raises(ConfigError):
        to_ws(url)


def test_join_url_has_exactly_one_slash_between_parts() -> None:
    assert join_url("http://h:1/", "/v1") == "http://h:1/v1"
    assert join_url("http://h:1", "v1") == "http://h:1/v1"


def test_resolve_base_prefers_the_override_and_falls_back_to_the_real_host() -> None:
    assert resolve_base(None, "https://api.openai.com") == "https://api.openai.com"
    assert resolve_base("http://127.0.0.1:5/", "https://x") == "http://127.0.0.1:5"
    with pytest.raises(ConfigError):
        resolve_base("not a url", "https://x")


def test_azure_issue_token_url_is_regional_for_real_azure_and_prefixed_for_an_override() -> None:
    assert (
        issue_token_url("eastus", None)
        == "https://eastus.api.cognitive.microsoft.com/sts/v1.0/issueToken"
    )
    assert (
        issue_token_url("westeurope", "http://127.0.0.1:9")
        == "http://127.0.0.1:9/westeurope/sts/v1.0/issueToken"
    )


def test_azure_speech_endpoints_under_an_override_use_the_ws_scheme_and_region_prefix() -> None:
    assert stt_private_endpoint("eastus", "http://127.0.0.1:9").startswith(
        "ws://127.0.0.1:9/eastus/speech/recognition/"
    )
    assert tts_private_endpoint("eastus", "http://127.0.0.1:9").startswith(
        "ws://127.0.0.1:9/eastus/tts/"
    )


@pytest.mark.parametrize("region", ["EastUS", "east.us", "evil.com/", "", "a"])
def test_a_malformed_azure_region_never_becomes_part_of_a_host_name(region: str) -> None:
    with pytest.raises(InvalidInput):
        issue_token_url(region, None)
