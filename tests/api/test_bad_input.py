"""Every input a fuzzer or an attacker found to give a 500 answers a clear 4xx instead
(issues #28 §2-3 and #21 items 8, 10, 13), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.utils.api import Api, Org

ASSISTANT = {
    "name": "A",
    "stt_config": {"provider": "deepgram"},
    "llm_config": {"provider": "openai"},
    "tts_config": {"provider": "cartesia"},
}


JSON = {"content-type": "application/json"}


def _twilio() -> dict[str, str]:
    return {"account_sid": "AC" + secrets.token_hex(16), "auth_token": secrets.token_hex(16)}


def _assert_4xx(response: httpx.Response, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"]


async def _assistant(org: Org) -> str:
    created = await org.owner.post("/assistants", json=ASSISTANT)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.mark.parametrize(
    "field", ["name", "system_prompt", "first_message", "max_duration_s", "idle_timeout_s"]
)
async def test_patching_an_assistant_with_null_is_refused(api: Api, field: str) -> None:
    org = await api.new_org()
    aid = await _assistant(org)
    _assert_4xx(await org.owner.patch(f"/assistants/{aid}", json={field: None}))
    assert (await org.owner.patch(f"/assistants/{aid}", json={"failure_policy": None})).is_success


async def test_out_of_range_and_loosely_typed_integers_are_refused(api: Api) -> None:
    org = await api.new_org()
    for query in (
        "before_seq=9223372036854775808",
        "before_seq=1e23",
        "before_seq=0.0",
        "before_seq=-1",
        "limit=3%0B",
        "limit=100000",
    ):
        _assert_4xx(await org.member.get(f"/billing/ledger?{query}"))
    assert (await org.member.get("/billing/ledger?before_seq=9223372036854775807")).is_success


@pytest.mark.parametrize("path", ["/usage", "/usage.csv"])
async def test_usage_periods_must_be_aware_and_in_range(api: Api, path: str) -> None:
    org = await api.new_org()
    for query in (
        "end=0001-01-01T00:00:00Z",
        "start=9999-12-31T23:59:00-23:59",
        "start=2026-12-01",
        "start=2026-12-01T00:00:00",
        "start=0.5",
    ):
        _assert_4xx(await org.member.get(f"{path}?{query}"))
    ok = await org.member.get(f"{path}?start=2026-12-01T00:00:00Z&end=2026-12-02T00:00:00%2B01:00")
    assert ok.status_code == 200, ok.text


async def test_control_characters_are_refused_at_the_edge(api: Api) -> None:
    org = await api.new_org()
    aid = await _assistant(org)
    for url in (
        "/credentials?provider=%00",
        "/audit-events?action=%00",
        "/audit-events?action=a%1Fb",
        "/assistants/%00",
        "/calls/%00",
        "/phone-numbers/x%00y",
    ):
        _assert_4xx(await org.member.get(url))
    for method, url, body in (
        ("POST", "/assistants", {**ASSISTANT, "name": "a\u0000b"}),
        ("POST", "/assistants", {**ASSISTANT, "system_prompt": "\u0007"}),
        ("PATCH", f"/assistants/{aid}", {"first_message": "\ud800"}),
        ("POST", "/phone-numbers", {"number": "+15551230001", "assistant_id": "\u0000"}),
        ("POST", "/byok", {"provider": "openai", "api_key\u0000": "x"}),
    ):
        raw = json.dumps(body)  # escapes as \u0000 / \ud800, as a client on the wire would
        _assert_4xx(await org.owner.request(method, url, content=raw, headers=JSON))
    # Free text keeps its tabs and newlines.
    multiline = await org.owner.patch(f"/assistants/{aid}", json={"system_prompt": "a\n\tb"})
    assert multiline.status_code == 200 and multiline.json()["system_prompt"] == "a\n\tb"


async def test_the_unauthenticated_twilio_webhooks_answer_control_characters_as_unknown(
    api: Api,
) -> None:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://t")  # type: ignore[arg-type]
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with client:
        for path, forged, unknown in (
            ("/voice", "CallSid=CA1&To=%2B1555%00", "CallSid=CA1&To=%2B15550000000"),
            ("/status", "CallSid=CA%00&CallStatus=completed", "CallSid=CA1&CallStatus=completed"),
        ):
            bad = await client.post(f"/telephony/twilio{path}", content=forged, headers=form)
            same = await client.post(f"/telephony/twilio{path}", content=unknown, headers=form)
            assert bad.status_code < 500
            assert (bad.status_code, bad.text) == (same.status_code, same.text)


async def test_deeply_nested_json_is_refused(api: Api) -> None:
    org = await api.new_org()
    deep: object = "x"
    for _ in range(500):
        deep = {"a": deep}
    body = {**ASSISTANT, "llm_config": {"provider": "openai", "model": deep}}
    response = await org.owner.post(
        "/assistants", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    _assert_4xx(response)


async def test_a_numbers_telephony_credential_is_not_deletable_as_a_key(api: Api) -> None:
    org = await api.new_org()
    number = await org.owner.post(
        "/phone-numbers", json={"number": "+15551230001", "telephony": _twilio()}
    )
    assert number.status_code == 201, number.text
    async with api.runtime.session_factory() as session:
        cred_id = (await session.execute(text("SELECT id FROM credentials"))).scalar_one()
    _assert_4xx(await org.owner.delete(f"/credentials/{cred_id}"), 404)
    _assert_4xx(await org.owner.get(f"/credentials/{cred_id}"), 404)
    assert (await org.owner.get(f"/phone-numbers/{number.json()['id']}")).status_code == 200


async def test_an_empty_assistant_id_on_a_number_is_invalid_not_a_conflict(api: Api) -> None:
    org = await api.new_org()
    created = await org.owner.post(
        "/phone-numbers",
        json={"number": "+15551230001", "assistant_id": "", "telephony": _twilio()},
    )
    _assert_4xx(created)


async def test_money_and_switches_take_strict_types(api: Api) -> None:
    org = await api.new_org()
    for body in ({"org_id": org.id, "amount": "100"}, {"org_id": org.id, "amount": 100.0}):
        _assert_4xx(await api.admin.post("/billing/credits", json=body))
    for value in ("yes", 1, 0, "true"):
        _assert_4xx(await org.owner.put("/byok/settings", json={"use_own_keys": value}))
    _assert_4xx(await api.admin.put(f"/admin/orgs/{org.id}/byok", json={"enabled": 1}))
    _assert_4xx(
        await org.owner.post(
            "/credentials",
            json={
                "provider": "openai",
                "fields": {"api_key": "sk-" + secrets.token_hex(16)},
                "priority": False,
            },
        )
    )
    assert (await org.owner.put("/byok/settings", json={"use_own_keys": True})).is_success


async def test_stage_configs_refuse_unknown_fields_and_bad_formats(api: Api) -> None:
    org = await api.new_org()
    key = "sk-" + secrets.token_hex(16)
    for stage in (
        {"provider": "openai", "api_key": key},
        {"provider": "openai", "extra": 1},
        {"provider": "openai", "model": "no-such-model"},
    ):
        _assert_4xx(await org.owner.post("/assistants", json={**ASSISTANT, "llm_config": stage}))
    for tts in (
        {"provider": "cartesia", "voice_id": "x"},
        {"provider": "elevenlabs", "voice_id": "../../../v1/convai/conversation?agent_id=1"},
        {"provider": "cartesia", "language": "\u0007zz"},
        {"provider": "cartesia", "language": "english please"},
    ):
        _assert_4xx(await org.owner.post("/assistants", json={**ASSISTANT, "tts_config": tts}))
    listing = await org.owner.get("/assistants")
    assert key not in listing.text
    assert listing.json()["items"] == [] if isinstance(listing.json(), dict) else not listing.json()


async def test_an_unhandled_error_answers_the_json_error_shape(api: Api) -> None:
    async def boom() -> None:
        raise RuntimeError("secret detail " + "x" * 10)

    api.app.add_api_route("/api/v1/_boom", boom)  # type: ignore[attr-defined]
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app, raise_app_exceptions=False),  # type: ignore[arg-type]
        base_url="http://t",
    )
    async with client:
        response = await client.get("/api/v1/_boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }


async def test_sql_errors_never_carry_bound_parameters(api: Api) -> None:
    canary = "canary-" + secrets.token_hex(8)
    org = await api.new_org()
    with pytest.raises(IntegrityError) as caught:
        async with api.runtime.session_factory() as session, session.begin():
            await session.execute(
                text("INSERT INTO organizations (id, name) VALUES (:id, :name)"),
                {"id": org.id, "name": canary},
            )
    assert canary not in str(caught.value) and org.id not in str(caught.value)
