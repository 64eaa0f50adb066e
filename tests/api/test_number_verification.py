"""A number routes calls only once its Twilio account lists it (asked of the Twilio emulator):
no tenant can squat another tenant's number or learn who owns one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.utils.api import Api
from voxroute.emulators import EmulatorSuite

ACCOUNT, OTHER_ACCOUNT = "AC" + "1a" * 16, "AC" + "2b" * 16
TOKEN, OTHER_TOKEN = "3c" * 16, "4d" * 16
OWNED, UNOWNED = "+15550001111", "+15550002222"


@pytest.fixture
async def suite() -> AsyncIterator[EmulatorSuite]:
    async with EmulatorSuite.start() as started:
        started.register_key("twilio", TOKEN, account_sid=ACCOUNT, numbers=[OWNED])
        started.register_key("twilio", OTHER_TOKEN, account_sid=OTHER_ACCOUNT, numbers=[])
        yield started


@pytest.fixture
def api_settings(suite: EmulatorSuite) -> dict[str, object]:
    return {"verify_carrier_numbers": True, "twilio_api_base_url": suite.base_urls["twilio"]}


def _body(number: str, account: str, token: str) -> dict[str, object]:
    return {
        "number": number,
        "telephony": {"provider": "twilio", "account_sid": account, "auth_token": token},
    }


async def test_a_number_on_the_account_is_accepted(api: Api, suite: EmulatorSuite) -> None:
    org = await api.new_org()
    created = await org.owner.post("/phone-numbers", json=_body(OWNED, ACCOUNT, TOKEN))
    assert created.status_code == 201, created.text
    asked = suite.requests("twilio")
    assert any("IncomingPhoneNumbers.json" in r.path for r in asked), asked


async def test_a_number_not_on_the_account_is_refused_and_nothing_is_stored(api: Api) -> None:
    org = await api.new_org()
    refused = await org.owner.post("/phone-numbers", json=_body(UNOWNED, ACCOUNT, TOKEN))
    assert refused.status_code == 422, refused.text
    assert "not on the given Twilio account" in refused.json()["error"]["message"]
    assert (await org.owner.get("/phone-numbers")).json() == []
    assert (await org.owner.get("/credentials")).json() == [] or all(
        c.get("scope") != "telephony" for c in (await org.owner.get("/credentials")).json()
    )


async def test_wrong_credentials_are_refused(api: Api) -> None:
    org = await api.new_org()
    refused = await org.owner.post("/phone-numbers", json=_body(OWNED, ACCOUNT, OTHER_TOKEN))
    assert refused.status_code == 422
    assert "refused these account credentials" in refused.json()["error"]["message"]


async def test_a_squatter_cannot_take_or_probe_another_tenants_number(api: Api) -> None:
    owner_org, squatter = await api.new_org("Owner"), await api.new_org("Squatter")
    # The squatter, first, with an account of its own that does not hold the number.
    first = await squatter.owner.post(
        "/phone-numbers", json=_body(OWNED, OTHER_ACCOUNT, OTHER_TOKEN)
    )
    assert first.status_code == 422
    taken = await owner_org.owner.post("/phone-numbers", json=_body(OWNED, ACCOUNT, TOKEN))
    assert taken.status_code == 201, taken.text
    # Probing after the fact answers like any number the squatter does not hold: no 409.
    probe = await squatter.owner.post(
        "/phone-numbers", json=_body(OWNED, OTHER_ACCOUNT, OTHER_TOKEN)
    )
    assert probe.status_code == 422 and probe.json() == first.json()


async def test_replacing_the_credentials_verifies_the_number_again(api: Api) -> None:
    org = await api.new_org()
    created = (await org.owner.post("/phone-numbers", json=_body(OWNED, ACCOUNT, TOKEN))).json()
    moved = await org.owner.patch(
        f"/phone-numbers/{created['id']}",
        json={"telephony": {"account_sid": OTHER_ACCOUNT, "auth_token": OTHER_TOKEN}},
    )
    assert moved.status_code == 422
    kept = (await org.owner.get(f"/phone-numbers/{created['id']}")).json()
    assert kept["account_sid"] == ACCOUNT


async def test_an_unreachable_twilio_saves_nothing(api: Api, suite: EmulatorSuite) -> None:
    org = await api.new_org()
    api.runtime.settings.__dict__["twilio_api_base_url"] = "http://127.0.0.1:9"  # closed port
    refused = await org.owner.post("/phone-numbers", json=_body(OWNED, ACCOUNT, TOKEN))
    assert refused.status_code == 502, refused.text
    assert (await org.owner.get("/phone-numbers")).json() == []
