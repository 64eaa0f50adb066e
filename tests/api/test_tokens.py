"""API tokens: listed without values, optional expiry, last use, revocation that holds at once."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update

from tests.utils.api import Api, make_settings
from voxroute.app import build_runtime, create_app
from voxroute.db.base import utcnow
from voxroute.db.models import ApiToken


async def test_an_owner_lists_tokens_without_their_values(api: Api) -> None:
    org = await api.new_org()
    created = await org.owner.post("/org/tokens", json={"name": "ci", "expires_in_days": 7})
    assert created.status_code == 201, created.text
    value = created.json()["token"]
    expires = created.json()["expires_at"]
    assert expires is not None

    listed = await org.owner.get("/org/tokens")

    assert listed.status_code == 200
    assert value not in listed.text and value[12:] not in listed.text
    (mine,) = [t for t in listed.json() if t["id"] == created.json()["id"]]
    assert mine["prefix"] == value[:12] and mine["name"] == "ci" and mine["role"] == "member"
    assert mine["expires_at"] == expires and mine["revoked_at"] is None
    assert len(listed.json()) == 3  # the owner's, the member's and the new one


async def test_a_revoked_token_fails_at_once_on_every_worker(
    api: Api, tmp_path: object, db_url: str
) -> None:
    org = await api.new_org()
    created = (await org.owner.post("/org/tokens", json={"name": "leaked"})).json()
    leaked = api.client(created["token"])
    assert (await leaked.get("/org")).status_code == 200
    # A second worker process on the same database (its own runtime and pools).
    settings = make_settings(tmp_path / "second", db_url)  # type: ignore[operator]
    second_app = create_app(settings)
    async with build_runtime(settings) as second_runtime:
        second_app.state.runtime = second_runtime
        on_second = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=second_app),
            base_url="http://test/api/v1",
            headers={"Authorization": f"Bearer {created['token']}"},
        )
        assert (await on_second.get("/org")).status_code == 200

        revoked = await org.owner.delete(f"/org/tokens/{created['id']}")

        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        assert (await leaked.get("/org")).status_code == 401
        assert (await on_second.get("/org")).status_code == 401
    events = (await org.owner.get("/audit-events")).json()
    assert any(e["action"] == "token.revoked" and e["target_id"] == created["id"] for e in events)


async def test_an_expired_token_is_refused(api: Api) -> None:
    org = await api.new_org()
    created = (await org.owner.post("/org/tokens", json={"expires_in_days": 1})).json()
    token = api.client(created["token"])
    assert (await token.get("/org")).status_code == 200
    async with api.runtime.session_factory() as session, session.begin():
        await session.execute(
            update(ApiToken)
            .where(ApiToken.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    refused = await token.get("/org")
    assert refused.status_code == 401 and "expired" in refused.json()["error"]["message"]


async def test_last_use_is_recorded(api: Api) -> None:
    org = await api.new_org()
    created = (await org.owner.post("/org/tokens", json={})).json()
    before = [t for t in (await org.owner.get("/org/tokens")).json() if t["id"] == created["id"]]
    assert before[0]["last_used_at"] is None
    await api.client(created["token"]).get("/org")
    after = [t for t in (await org.owner.get("/org/tokens")).json() if t["id"] == created["id"]]
    assert after[0]["last_used_at"] is not None


async def test_members_cannot_list_or_revoke_and_other_orgs_tokens_are_404(api: Api) -> None:
    acme, other = await api.new_org("Acme"), await api.new_org("Other")
    theirs = (await other.owner.post("/org/tokens", json={})).json()
    assert (await acme.member.get("/org/tokens")).status_code == 403
    assert (await acme.member.delete(f"/org/tokens/{theirs['id']}")).status_code == 403
    assert (await acme.owner.delete(f"/org/tokens/{theirs['id']}")).status_code == 404
    assert (await acme.owner.delete("/org/tokens/tok_unknown")).status_code == 404
    assert (await api.client(theirs["token"]).get("/org")).status_code == 200  # untouched


async def test_a_platform_admin_revokes_an_orgs_token(api: Api) -> None:
    org = await api.new_org()
    created = (await org.owner.post("/org/tokens", json={})).json()
    listed = await api.admin.get(f"/admin/orgs/{org.id}/tokens")
    assert created["id"] in {t["id"] for t in listed.json()}
    revoked = await api.admin.delete(f"/admin/orgs/{org.id}/tokens/{created['id']}")
    assert revoked.status_code == 200
    assert (await api.client(created["token"]).get("/org")).status_code == 401


async def test_token_expiry_is_validated(api: Api) -> None:
    org = await api.new_org()
    for days in (0, -1, 3651, "7", 1.5, True):
        response = await org.owner.post("/org/tokens", json={"expires_in_days": days})
        assert response.status_code == 422, days
