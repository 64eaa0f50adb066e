"""'Check status' tells a good key, a revoked key, a wrong Azure region and a down provider apart,
and never repeats the key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from voxroute.emulators import EmulatorSuite
from voxroute.errors import InvalidInput
from voxroute.providers import CheckResult, ErrorCategory, check_credential, load_catalog
from voxroute.vault.secret import Secret

from .conftest import REGION, SECRET_FIELD, new_key

PROVIDERS = [
    "openai",
    "xai",
    "deepgram",
    "elevenlabs",
    "cartesia",
    "azure",
    "inworld",
    "resemble",
    "resend",
]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def _public(provider: str, region: str = REGION) -> dict[str, str]:
    if provider == "azure":
        return {"region": region}
    if provider == "inworld":
        return {"workspace_id": "ws-test"}
    return {}


def _register(suite: EmulatorSuite, provider: str, key: str, **extra: object) -> str:
    if provider == "azure":
        extra.setdefault("region", REGION)
    return suite.register_key(provider, key, **extra)


async def _check(
    provider: str,
    key: str,
    session: aiohttp.ClientSession,
    base_url: str | None,
    region: str = REGION,
) -> CheckResult:
    secrets = {SECRET_FIELD.get(provider, "api_key"): Secret(key)}
    return await check_credential(
        provider, secrets, _public(provider, region), base_url=base_url, session=session
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_registered_key_is_ok_and_the_probe_used_that_key(
    suite: EmulatorSuite, session: aiohttp.ClientSession, provider: str
) -> None:
    key = new_key(provider)
    key_id = _register(suite, provider, key)
    result = await _check(provider, key, session, suite.base_urls[provider])
    assert result.status == "ok", result
    assert result.message.startswith(load_catalog().get(provider).name)
    assert [r.key_id for r in suite.requests(provider)] == [key_id]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_unknown_key_is_invalid_and_the_message_names_the_provider_not_the_key(
    suite: EmulatorSuite, session: aiohttp.ClientSession, provider: str
) -> None:
    key = new_key(provider)
    result = await _check(provider, key, session, suite.base_urls[provider])
    assert result.status == "invalid", result
    assert result.category in (ErrorCategory.AUTHENTICATION, ErrorCategory.AUTHORIZATION)
    assert load_catalog().get(provider).name in result.message
    assert key not in result.message


async def test_the_four_outcomes_are_distinct(
    suite: EmulatorSuite,
    session: aiohttp.ClientSession,
    captured_logs: list[str],
    refused_url: str,
) -> None:
    good, revoked = new_key("openai"), new_key("openai")
    _register(suite, "openai", good)
    _register(suite, "openai", revoked, fault={"status": 401})
    azure_key = new_key("azure")
    _register(suite, "azure", azure_key, region="eastus")

    ok = await _check("openai", good, session, suite.base_urls["openai"])
    rejected = await _check("openai", revoked, session, suite.base_urls["openai"])
    wrong_region = await _check("azure", azure_key, session, suite.base_urls["azure"], "westus")
    down = await _check("deepgram", new_key("deepgram"), session, refused_url)

    assert (ok.status, ok.message) == ("ok", "OpenAI key valid")
    assert rejected.status == "invalid" and rejected.message.startswith("OpenAI key rejected (401")
    assert (wrong_region.status, wrong_region.message) == (
        "invalid",
        "Azure Speech key invalid or wrong region (westus)",
    )
    assert (down.status, down.message) == ("error", "Deepgram unreachable: connection refused")
    assert down.category is ErrorCategory.CONNECTIVITY
    assert len({r.message for r in (ok, rejected, wrong_region, down)}) == 4
    everything = "\n".join([*captured_logs, *(repr(r) for r in (ok, rejected, wrong_region, down))])
    for key in (good, revoked, azure_key):
        assert key not in everything


async def test_the_same_azure_key_is_ok_in_its_own_region(
    suite: EmulatorSuite, session: aiohttp.ClientSession
) -> None:
    key = new_key("azure")
    _register(suite, "azure", key, region="westeurope")
    result = await _check("azure", key, session, suite.base_urls["azure"], "westeurope")
    assert result.status == "ok"


async def test_xai_answers_a_bad_key_with_400_and_that_still_means_invalid(
    suite: EmulatorSuite, session: aiohttp.ClientSession
) -> None:
    result = await _check("xai", new_key("xai"), session, suite.base_urls["xai"])
    assert result.status == "invalid" and result.http_status == 400


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("elevenlabs", "ElevenLabs key valid but restricted (missing_permissions)"),
        ("resend", "Resend key valid but restricted (restricted_api_key)"),
    ],
)
async def test_scoped_keys_that_cannot_read_the_probe_endpoint_are_still_valid(
    suite: EmulatorSuite, session: aiohttp.ClientSession, provider: str, expected: str
) -> None:
    key = new_key(provider)
    _register(suite, provider, key, restricted=True)
    result = await _check(provider, key, session, suite.base_urls[provider])
    assert (result.status, result.message) == ("ok", expected)


@pytest.mark.parametrize(
    ("status", "category", "words"),
    [
        (429, ErrorCategory.RATE_LIMIT, "rate-limited (429"),
        (503, ErrorCategory.SERVER, "unavailable (503"),
    ],
)
async def test_rate_limits_and_outages_are_errors_not_invalid_keys(
    suite: EmulatorSuite,
    session: aiohttp.ClientSession,
    status: int,
    category: ErrorCategory,
    words: str,
) -> None:
    key = new_key("elevenlabs")
    _register(suite, "elevenlabs", key)
    suite.set_fault("elevenlabs", {"status": status})
    result = await _check("elevenlabs", key, session, suite.base_urls["elevenlabs"])
    assert result.status == "error" and result.category is category
    assert result.message.startswith(f"ElevenLabs {words}")


async def test_a_slow_provider_is_reported_as_unreachable_within_the_timeout(
    suite: EmulatorSuite, session: aiohttp.ClientSession
) -> None:
    key = new_key("cartesia")
    _register(suite, "cartesia", key)
    suite.set_fault("cartesia", {"first_byte_delay_ms": 2000})
    result = await check_credential(
        "cartesia",
        {"api_key": Secret(key)},
        {},
        base_url=suite.base_urls["cartesia"],
        session=session,
        timeout_s=0.3,
    )
    assert (result.status, result.message) == (
        "error",
        "Cartesia unreachable: no answer within 0.3 s",
    )


async def test_missing_fields_and_bad_regions_are_invalid_without_a_request(
    suite: EmulatorSuite, session: aiohttp.ClientSession
) -> None:
    secrets = {"api_key": Secret(new_key("azure"))}
    base = suite.base_urls["azure"]
    no_region = await check_credential("azure", secrets, {}, base_url=base, session=session)
    bad_region = await check_credential(
        "azure", secrets, {"region": "evil.com/x"}, base_url=base, session=session
    )
    assert no_region.status == bad_region.status == "invalid"
    assert "region" in no_region.message and "region" in bad_region.message
    assert suite.requests("azure") == []


async def test_an_unknown_provider_is_invalid_input(session: aiohttp.ClientSession) -> None:
    with pytest.raises(InvalidInput):
        await check_credential("nope", {}, {}, base_url=None, session=session)
