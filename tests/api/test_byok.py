"""The org-level BYOK contract: write-only keys, replace destroys, roles, bad input."""

from __future__ import annotations

from sqlalchemy import select

from tests.utils.api import Api
from voxroute.db.models import CredentialSecret


async def test_get_byok_lists_every_catalog_provider_with_null_ids(api: Api) -> None:
    org = await api.new_org()
    response = await org.owner.get("/byok")
    assert response.status_code == 200
    keys = response.json()["byok_keys"]
    assert set(keys) == {f"{p}_secret_id" for p in api.runtime.catalog.ids}
    assert all(v is None for v in keys.values())


async def test_post_byok_stores_a_key_that_is_never_returned(api: Api) -> None:
    org = await api.new_org()
    secret = "sk-proj-never-returned-1234567890"
    response = await org.owner.post("/byok", json={"provider": "openai", "api_key": secret})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    cred_id = body["byok_keys"]["openai_secret_id"]
    assert cred_id and cred_id.startswith("cred_")
    listing = await org.owner.get("/credentials")
    assert secret not in listing.text
    [cred] = listing.json()
    assert cred["hint"] == "7890" and cred["version"] == 1


async def test_replacing_a_key_destroys_the_old_ciphertext(api: Api) -> None:
    org = await api.new_org()
    await org.owner.post(
        "/byok", json={"provider": "openai", "api_key": "sk-first-key-0000aaaaaaaa"}
    )
    async with api.runtime.session_factory() as session:
        first = (await session.scalars(select(CredentialSecret.ciphertext))).all()
    second = await org.owner.post(
        "/byok", json={"provider": "openai", "api_key": "sk-second-key-0000bbbbbbb"}
    )
    assert second.status_code == 200
    async with api.runtime.session_factory() as session:
        rows = (await session.scalars(select(CredentialSecret))).all()
    assert len(rows) == 1 and rows[0].ciphertext not in first and rows[0].credential_version == 2
    [cred] = (await org.owner.get("/credentials")).json()
    assert cred["hint"] == "bbbb" and cred["version"] == 2


async def test_delete_byok_removes_the_key_permanently(api: Api) -> None:
    org = await api.new_org()
    await org.owner.post("/byok", json={"provider": "deepgram", "api_key": "dg-key-123456789012"})
    response = await org.owner.request("DELETE", "/byok", json={"provider": "deepgram"})
    assert (
        response.status_code == 200 and response.json()["byok_keys"]["deepgram_secret_id"] is None
    )
    async with api.runtime.session_factory() as session:
        assert (await session.scalars(select(CredentialSecret))).all() == []
    again = await org.owner.request("DELETE", "/byok", json={"provider": "deepgram"})
    assert again.status_code == 404


async def test_byok_config_describes_providers(api: Api) -> None:
    org = await api.new_org()
    providers = {p["id"]: p for p in (await org.member.get("/byok/config")).json()["providers"]}
    assert providers["azure"]["required_fields"] == ["api_key", "region"]
    assert providers["openai"]["default_models"]["llm"] == "gpt-4o-mini"
    assert providers["elevenlabs"]["voices"]
    assert {"id", "name", "category", "docs_url", "models"} <= set(providers["deepgram"])


async def test_members_read_but_cannot_change_keys(api: Api) -> None:
    org = await api.new_org()
    assert (await org.member.get("/byok")).status_code == 200
    response = await org.member.post(
        "/byok", json={"provider": "openai", "api_key": "sk-member-1234567890"}
    )
    assert response.status_code == 403
    assert (await org.owner.get("/credentials")).json() == []


async def test_requests_without_a_valid_token_get_401(api: Api) -> None:
    assert (await api.anon.get("/byok")).status_code == 401
    bad = api.client("vxr_not-a-real-token")
    assert (await bad.get("/byok")).status_code == 401


async def test_bad_input_gets_a_clear_error_and_stores_nothing(api: Api) -> None:
    org = await api.new_org()
    cases = [
        ({"provider": "nope", "api_key": "sk-aaaaaaaaaaaaaaaa"}, 422, "unknown provider"),
        ({"provider": "azure", "api_key": "a1" * 16}, 422, "region"),
        ({"provider": "azure", "api_key": "a1" * 16, "region": "East US"}, 422, "region"),
        ({"provider": "openai", "api_key": 12345}, 422, "string"),
        ({"provider": "openai"}, 422, "api_key"),
        ({"api_key": "sk-aaaaaaaaaaaaaaa"}, 422, "provider"),
        (
            {"provider": "openai", "api_key": "sk-aaaaaaaaaaaaa", "colour": "red"},
            422,
            "unknown field",
        ),
    ]
    for body, status, words in cases:
        response = await org.owner.post("/byok", json=body)
        assert response.status_code == status, (body, response.text)
        assert words in response.json()["error"]["message"]
    malformed = await org.owner.post(
        "/byok", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    huge = await org.owner.post("/byok", json={"provider": "openai", "api_key": "x" * 200_000})
    assert huge.status_code == 413
    assert (await org.owner.get("/credentials")).json() == []


async def test_byok_disabled_by_the_platform_refuses_org_keys(api: Api) -> None:
    org = await api.new_org(byok=False)
    response = await org.owner.post(
        "/byok", json={"provider": "openai", "api_key": "sk-aaaaaaaaaaaaaaaaa"}
    )
    assert response.status_code == 403
    toggle = await org.owner.put("/byok/settings", json={"use_own_keys": True})
    assert toggle.status_code == 403


async def test_platform_admin_enables_byok_and_owner_switches_use_my_keys(api: Api) -> None:
    org = await api.new_org(byok=False)
    enabled = await api.admin.put(f"/admin/orgs/{org.id}/byok", json={"enabled": True})
    assert enabled.status_code == 200 and enabled.json()["use_own_keys"] is True
    off = await org.owner.put("/byok/settings", json={"use_own_keys": False})
    assert off.json()["use_own_keys"] is False and off.json()["byok_enabled"] is True
    assert (
        await org.owner.put(f"/admin/orgs/{org.id}/byok", json={"enabled": False})
    ).status_code == 403
    policy = await org.owner.put("/byok/settings", json={"failure_policy": "fallback_to_managed"})
    assert policy.json()["failure_policy"] == "fallback_to_managed"
    bad = await org.owner.put("/byok/settings", json={"failure_policy": "yolo"})
    assert bad.status_code == 422
    actions = [e["action"] for e in (await org.owner.get("/audit-events")).json()]
    assert "byok.enabled" in actions and "byok.use_own_keys" in actions
    assert "byok.failure_policy" in actions
