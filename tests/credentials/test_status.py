"""Credential status is written by the store alone, with the lifecycle's rules."""

from __future__ import annotations

from tests.utils.api import Api
from voxroute.credentials import CredentialStatus
from voxroute.db.base import utcnow
from voxroute.db.models import Credential

SECRET = "sk-org-openai-key-status-0042"


async def _key(api: Api) -> tuple[str, str]:
    org = await api.new_org()
    created = await org.owner.post("/byok", json={"provider": "openai", "api_key": SECRET})
    return org.id, created.json()["byok_keys"]["openai_secret_id"]


async def test_a_failed_check_invalidates_a_passing_one_revives_and_disabled_stays_off(
    api: Api,
) -> None:
    org_id, credential_id = await _key(api)
    store = api.runtime.store
    async with api.runtime.session_factory() as session, session.begin():
        cred = await store.get(session, org_id=org_id, credential_id=credential_id)
        store.record_check(cred, "invalid", "openai rejected the key (401)")
        assert cred.status == CredentialStatus.INVALID and cred.last_error
        store.record_check(cred, "ok", None)
        assert cred.status == CredentialStatus.ACTIVE and cred.last_error is None
        store.set_status(cred, CredentialStatus.DISABLED)
        store.record_check(cred, "ok", None)
        assert cred.status == CredentialStatus.DISABLED and cred.validation_status == "ok"


async def test_a_call_time_failure_cools_the_key_down_or_marks_it_invalid(api: Api) -> None:
    org_id, credential_id = await _key(api)
    store = api.runtime.store
    async with api.runtime.session_factory() as session, session.begin():
        await store.cool_down(session, org_id=org_id, credential_id=credential_id)
    async with api.runtime.session_factory() as session:
        cred = await session.get(Credential, credential_id)
        assert cred is not None and cred.status == CredentialStatus.ACTIVE
        assert cred.cooldown_until is not None and cred.cooldown_until > utcnow()
    async with api.runtime.session_factory() as session, session.begin():
        await store.mark_invalid(
            session, org_id=org_id, credential_id=credential_id, detail="x" * 2_000
        )
    async with api.runtime.session_factory() as session:
        cred = await session.get(Credential, credential_id)
        assert cred is not None and cred.status == CredentialStatus.INVALID
        assert cred.last_error is not None and len(cred.last_error) == 500
