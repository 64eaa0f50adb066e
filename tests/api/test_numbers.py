"""Phone numbers: the Twilio auth token is vaulted and never returned."""

from __future__ import annotations

from tests.utils.api import Api

ASSISTANT = {
    "name": "A",
    "stt_config": {"provider": "deepgram"},
    "llm_config": {"provider": "openai"},
    "tts_config": {"provider": "cartesia"},
}


async def test_number_lifecycle_keeps_the_auth_token_write_only(api: Api) -> None:
    org = await api.new_org()
    aid = (await org.owner.post("/assistants", json=ASSISTANT)).json()["id"]
    token = "0f1e2d3c4b5a69788796a5b4c3d24242"
    created = await org.owner.post(
        "/phone-numbers",
        json={
            "number": "+15551230001",
            "assistant_id": aid,
            "telephony": {
                "provider": "twilio",
                "account_sid": "AC0123456789abcdef0123456789abcdef",
                "auth_token": token,
            },
        },
    )
    assert created.status_code == 201, created.text
    assert token not in created.text and created.json()["auth_token_hint"] == "4242"
    nid = created.json()["id"]
    listed = await org.member.get("/phone-numbers")
    assert token not in listed.text and listed.json()[0]["number"] == "+15551230001"
    dup = await org.owner.post(
        "/phone-numbers",
        json={
            "number": "+15551230001",
            "telephony": {"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": token},
        },
    )
    assert dup.status_code == 409
    updated = await org.owner.patch(f"/phone-numbers/{nid}", json={"assistant_id": None})
    assert updated.json()["assistant_id"] is None
    assert (await org.owner.delete(f"/phone-numbers/{nid}")).status_code == 204
    assert (await org.owner.get("/phone-numbers")).json() == []


GOOD_TWILIO = {"account_sid": "AC" + "0a" * 16, "auth_token": "5e" * 16}


async def test_number_input_is_validated_against_the_carriers_shapes(api: Api) -> None:
    org = await api.new_org()
    for body in (
        {"number": "555-1234", "telephony": GOOD_TWILIO},
        {"number": "+9999999", "telephony": GOOD_TWILIO},  # too short for E.164
        {"number": "+15551230002", "telephony": {**GOOD_TWILIO, "account_sid": "AC123456"}},
        {"number": "+15551230002", "telephony": {**GOOD_TWILIO, "account_sid": "nope"}},
        {"number": "+15551230002", "telephony": {**GOOD_TWILIO, "auth_token": "\x01" * 32}},
        {"number": "+15551230002", "telephony": {**GOOD_TWILIO, "auth_token": "x" * 32}},
        {"number": "+15551230002", "assistant_id": "asst_missing", "telephony": GOOD_TWILIO},
    ):
        response = await org.owner.post("/phone-numbers", json=body)
        assert response.status_code in (404, 422), (body, response.text)
        assert "hint" not in response.text
    assert (await org.owner.get("/phone-numbers")).json() == []
    ok = await org.owner.post(
        "/phone-numbers", json={"number": "+15551230002", "telephony": GOOD_TWILIO}
    )
    assert ok.status_code == 201, ok.text
