"""'Check status' over the API against the emulators: four distinct, clear, key-free results."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.utils.api import Api
from voxroute.emulators import EmulatorSuite

GOOD = "sk-good-openai-key-000001"
REVOKED = "dg-revoked-key-0000000002"
AZURE = "a" * 28 + "AZ03"


@pytest.fixture
async def suite() -> AsyncIterator[EmulatorSuite]:
    async with EmulatorSuite.start() as suite:
        yield suite


async def test_check_reports_ok_revoked_wrong_region_and_down_distinctly(
    api: Api, suite: EmulatorSuite, refused_url: str
) -> None:
    suite.register_key("openai", GOOD)
    suite.register_key("azure", AZURE, region="westeurope")
    # deepgram: REVOKED is never registered, so the emulator answers 401 like Deepgram does.
    api.runtime.key_checker.base_urls.update(suite.base_urls)
    api.runtime.key_checker.base_urls["cartesia"] = refused_url
    org = await api.new_org()
    for body in (
        {"provider": "openai", "api_key": GOOD},
        {"provider": "deepgram", "api_key": REVOKED},
        {"provider": "azure", "api_key": AZURE, "region": "eastus"},
        {"provider": "cartesia", "api_key": "sk_car_down_provider_0004"},
    ):
        assert (await org.owner.post("/byok", json=body)).status_code == 200
    response = await org.owner.post("/byok/check")
    assert response.status_code == 200, response.text
    results = {r["provider"]: r for r in response.json()}
    assert results["openai"]["status"] == "ok"
    assert results["deepgram"]["status"] == "invalid" and "401" in results["deepgram"]["message"]
    assert (
        results["azure"]["status"] == "invalid" and "region" in results["azure"]["message"].lower()
    )
    assert (
        results["cartesia"]["status"] == "error"
        and "unreachable" in results["cartesia"]["message"].lower()
    )
    assert len({r["message"] for r in results.values()}) == 4
    for secret in (GOOD, REVOKED, AZURE):
        assert secret not in response.text
    creds = {c["provider"]: c for c in (await org.owner.get("/credentials")).json()}
    assert (
        creds["deepgram"]["status"] == "invalid"
        and creds["deepgram"]["validation_status"] == "invalid"
    )
    assert creds["openai"]["validation_status"] == "ok" and creds["openai"]["last_validated_at"]
    audit = [
        e
        for e in (await org.owner.get("/audit-events")).json()
        if e["action"] == "credential.validated"
    ]
    assert len(audit) == 4 and all(GOOD not in str(e) for e in audit)
    one = await org.owner.post("/byok/check", json={"provider": "openai"})
    assert [r["provider"] for r in one.json()] == ["openai"]


async def test_check_is_rate_limited_per_org_and_members_cannot_run_it(
    api: Api, suite: EmulatorSuite
) -> None:
    api.runtime.key_checker.base_urls.update(suite.base_urls)
    org = await api.new_org()
    await org.owner.post("/byok", json={"provider": "openai", "api_key": GOOD})
    assert (await org.member.post("/byok/check")).status_code == 403
    statuses = [(await org.owner.post("/byok/check")).status_code for _ in range(12)]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
    other = await api.new_org("Other")
    await other.owner.post("/byok", json={"provider": "openai", "api_key": GOOD})
    assert (await other.owner.post("/byok/check")).status_code == 200
