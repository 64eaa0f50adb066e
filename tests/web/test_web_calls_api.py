"""`POST /api/v1/calls/web`: a ringing web call with a single-use stream token, per org."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.utils.api import Api
from voxroute.api.routes.web_calls import MAX_PENDING_WEB_CALLS, WEB_ACCOUNT_SID
from voxroute.db.models import Call
from voxroute.db.session import transaction
from voxroute.errors import CallTokenInvalid
from voxroute.telephony.twilio.tokens import consume_call_token, hash_token


@pytest.fixture(autouse=True)
def steady_loop(api: Api) -> None:
    """The suite's own CPU work lags the shared event loop; admission is tested explicitly."""
    api.runtime.registry.loop_lag_limit_ms = float("inf")


@pytest.fixture(autouse=True)
def funded_orgs(api: Api) -> None:
    """Every org of these tests starts with credit: web calls pass the credit admission."""
    api.new_org_credit_micros = 5_000_000


ASSISTANT = {
    "name": "Web desk",
    "first_message": "Hello from the browser.",
    "stt_config": {"provider": "deepgram", "model": "nova-3-general", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini"},
    "tts_config": {
        "provider": "cartesia",
        "model": "sonic-3",
        "voice_id": "a0e99841-438c-4a64-b679-ae501e7d6091",
    },
}


async def new_assistant(owner: httpx.AsyncClient) -> str:
    response = await owner.post("/assistants", json=ASSISTANT)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def stored(api: Api, call_id: str) -> Call:
    async with api.runtime.session_factory() as session:
        return (await session.execute(select(Call).where(Call.id == call_id))).scalar_one()


async def test_owner_creates_a_ringing_web_call_with_a_stream_token(api: Api) -> None:
    org = await api.new_org()
    assistant_id = await new_assistant(org.owner)
    response = await org.owner.post("/calls/web", json={"assistant_id": assistant_id})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["stream_url"] == "ws://127.0.0.1:8000/telephony/twilio/stream"
    assert body["account_sid"] == WEB_ACCOUNT_SID
    assert body["call_sid"].startswith("WEB")
    call = await stored(api, body["call_id"])
    assert (call.org_id, call.assistant_id, call.phone_number_id) == (org.id, assistant_id, None)
    assert call.telephony_provider == "web" and call.provider_call_id == body["call_sid"]
    assert call.status == "ringing"
    # Stored only as a hash, exactly as the Twilio webhook stores its tokens.
    assert call.call_token_hash == hash_token(body["call_token"])
    assert body["call_token"] not in str(call.__dict__)
    listed = (await org.member.get("/calls")).json()
    assert [c["id"] for c in listed] == [body["call_id"]]


async def test_the_token_is_consumed_once(api: Api) -> None:
    org = await api.new_org()
    body = (
        await org.owner.post("/calls/web", json={"assistant_id": await new_assistant(org.owner)})
    ).json()
    async with transaction(api.runtime.session_factory) as session:
        call = await consume_call_token(session, body["call_token"])
    assert call.id == body["call_id"]
    with pytest.raises(CallTokenInvalid):
        async with transaction(api.runtime.session_factory) as session:
            await consume_call_token(session, body["call_token"])


async def test_a_member_may_not_place_a_web_call(api: Api) -> None:
    org = await api.new_org()
    assistant_id = await new_assistant(org.owner)
    response = await org.member.post("/calls/web", json={"assistant_id": assistant_id})
    assert response.status_code == 403, response.text
    assert "call_token" not in response.text
    assert (await org.owner.get("/calls")).json() == []


async def test_no_token_is_401(api: Api) -> None:
    org = await api.new_org()
    assistant_id = await new_assistant(org.owner)
    response = await api.anon.post("/calls/web", json={"assistant_id": assistant_id})
    assert response.status_code == 401


async def test_another_orgs_assistant_is_404_and_creates_nothing(api: Api) -> None:
    acme, other = await api.new_org("Acme"), await api.new_org("Other")
    theirs = await new_assistant(other.owner)
    for assistant_id in (theirs, "asst_does_not_exist"):
        response = await acme.owner.post("/calls/web", json={"assistant_id": assistant_id})
        assert response.status_code == 404, response.text
        assert "call_token" not in response.text
    assert (await acme.owner.get("/calls")).json() == []
    assert (await other.owner.get("/calls")).json() == []


async def test_bad_bodies_are_422(api: Api) -> None:
    org = await api.new_org()
    for body in (
        {},
        {"assistant_id": ""},
        {"assistant_id": "x" * 41},
        {"assistant_id": 5},
        {"assistant_id": "a", "extra": 1},
    ):
        response = await org.owner.post("/calls/web", json=body)
        assert response.status_code == 422, body


async def test_unanswered_web_calls_are_bounded_per_org(api: Api) -> None:
    org, other = await api.new_org("Acme"), await api.new_org("Other")
    mine, theirs = await new_assistant(org.owner), await new_assistant(other.owner)
    for _ in range(MAX_PENDING_WEB_CALLS):
        assert (await org.owner.post("/calls/web", json={"assistant_id": mine})).status_code == 201
    refused = await org.owner.post("/calls/web", json={"assistant_id": mine})
    assert refused.status_code == 429
    assert (await other.owner.post("/calls/web", json={"assistant_id": theirs})).status_code == 201


async def test_an_overloaded_worker_refuses_with_503_and_creates_nothing(api: Api) -> None:
    org = await api.new_org()
    assistant_id = await new_assistant(org.owner)
    api.runtime.registry.loop_lag_limit_ms = 50
    for _ in range(5):
        api.runtime.registry.observe_lag(500)
    response = await org.owner.post("/calls/web", json={"assistant_id": assistant_id})
    assert response.status_code == 503, response.text
    assert "call_token" not in response.text
    assert (await org.owner.get("/calls")).json() == []


async def test_a_busy_event_loop_refuses_with_503_and_creates_nothing(api: Api) -> None:
    org = await api.new_org()
    assistant_id = await new_assistant(org.owner)
    registry = api.runtime.registry
    await registry.stop()  # no real samples from here on: the window is the test's alone
    registry.loop_busy_limit = 0.7
    for tick in range(40):  # on the CPU 90 % of the time, longer than the window
        registry.observe_cpu(1000.0 + tick * 0.1, 50.0 + tick * 0.09)
    assert registry.loop_busy > 0.7
    response = await org.owner.post("/calls/web", json={"assistant_id": assistant_id})
    assert response.status_code == 503, response.text
    assert "event loop busy" in response.text
    assert (await org.owner.get("/calls")).json() == []
