"""Assistants: CRUD, BYO keys shown as hints only, revert, export and import without keys."""

from __future__ import annotations

from tests.utils.api import Api

BODY = {
    "name": "Front desk",
    "system_prompt": "Be brief.",
    "first_message": "Hi!",
    "failure_policy": "fallback_to_managed",
    "stt_config": {
        "provider": "azure",
        "language": "en-US",
        "byo_api_keys": {"azure": {"api_key": "a" * 28 + "AZ01", "region": "westeurope"}},
    },
    "llm_config": {
        "provider": "openai",
        "model": "gpt-4o",
        "byo_api_keys": {"openai": {"api_key": "sk-assistant-llm-9876"}},
    },
    "tts_config": {"provider": "elevenlabs", "voice_id": "21m00Tcm4TlvDq8ikWAM"},
}


async def test_create_shows_key_hints_and_public_fields_never_keys(api: Api) -> None:
    org = await api.new_org()
    response = await org.owner.post("/assistants", json=BODY)
    assert response.status_code == 201, response.text
    body = response.json()
    assert "sk-assistant-llm-9876" not in response.text and "a" * 28 not in response.text
    azure = body["stt_config"]["byo_api_keys"]["azure"]
    assert (
        azure["hint"] == "AZ01"
        and azure["region"] == "westeurope"
        and azure["credential_id"].startswith("cred_")
    )
    assert body["llm_config"]["byo_api_keys"]["openai"]["hint"] == "9876"
    assert body["tts_config"]["byo_api_keys"] == {}
    fetched = (await org.member.get(f"/assistants/{body['id']}")).json()
    assert fetched == body


async def test_update_replaces_a_key_and_null_or_empty_reverts(api: Api) -> None:
    org = await api.new_org()
    aid = (await org.owner.post("/assistants", json=BODY)).json()["id"]
    replaced = await org.owner.patch(
        f"/assistants/{aid}",
        json={
            "llm_config": {
                "provider": "openai",
                "byo_api_keys": {"openai": {"api_key": "sk-assistant-new-5555"}},
            }
        },
    )
    llm_key = replaced.json()["llm_config"]["byo_api_keys"]["openai"]
    assert llm_key["hint"] == "5555" and llm_key["version"] == 2
    for empty in (None, {}):
        reverted = await org.owner.patch(
            f"/assistants/{aid}", json={"stt_config": {"provider": "azure", "byo_api_keys": empty}}
        )
        assert reverted.json()["stt_config"]["byo_api_keys"] == {}
    creds = (await org.owner.get("/credentials")).json()
    assert [c["provider"] for c in creds] == ["openai"]


async def test_export_and_import_never_carry_keys(api: Api) -> None:
    org = await api.new_org()
    aid = (await org.owner.post("/assistants", json=BODY)).json()["id"]
    exported = await org.member.get(f"/assistants/{aid}/export")
    assert exported.status_code == 200
    text = exported.text
    assert "byo" not in text and "cred_" not in text and "9876" not in text
    imported = await org.owner.post("/assistants/import", json=exported.json())
    assert imported.status_code == 201, imported.text
    assert (
        imported.json()["llm_config"]["byo_api_keys"] == {}
        and imported.json()["name"] == "Front desk"
    )
    smuggled = exported.json()
    smuggled["llm_config"]["byo_api_keys"] = {"openai": {"api_key": "sk-smuggled-000000"}}
    assert (await org.owner.post("/assistants/import", json=smuggled)).status_code == 422


async def test_bad_assistant_input_is_rejected_with_nothing_stored(api: Api) -> None:
    org = await api.new_org()
    bad = [
        dict(BODY, stt_config={"provider": "openai"}),  # openai has no stt
        dict(BODY, llm_config={"provider": "unknown"}),
        dict(BODY, max_duration_s="long"),
        dict(BODY, failure_policy="yolo"),
        dict(
            BODY, stt_config={"provider": "azure", "byo_api_keys": {"azure": {"api_key": "k" * 32}}}
        ),
    ]
    for body in bad:
        response = await org.owner.post("/assistants", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await org.owner.get("/assistants")).json() == []
    assert (await org.owner.get("/credentials")).json() == []


async def test_deleting_an_assistant_destroys_its_keys(api: Api) -> None:
    org = await api.new_org()
    aid = (await org.owner.post("/assistants", json=BODY)).json()["id"]
    assert (await org.member.delete(f"/assistants/{aid}")).status_code == 403
    assert (await org.owner.delete(f"/assistants/{aid}")).status_code == 204
    assert (await org.owner.get("/credentials")).json() == []
    assert (await org.owner.get(f"/assistants/{aid}")).status_code == 404
