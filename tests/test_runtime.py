"""The app's CallHost hooks against the real database: pool failover, managed fallback,
credential failures, all audited without secrets."""

from __future__ import annotations

from pipecat.utils.errors import ErrorCategory

from tests.utils.api import Api
from voxroute.calls.host import CallInfo
from voxroute.db.base import new_id
from voxroute.db.models import Assistant, Call, Credential, Organization
from voxroute.routing.failures import plan_failure

ASSISTANT = {
    "name": "P",
    "stt_config": {"provider": "deepgram"},
    "llm_config": {"provider": "openai"},
    "tts_config": {"provider": "cartesia", "voice_id": "a0e99841-438c-4a64-b679-ae501e7d6091"},
}


async def _setup(api: Api) -> tuple[str, CallInfo, list[dict[str, object]]]:
    org = await api.new_org()
    for label, priority, key in (
        ("primary", 10, "sk-pool-primary-0001"),
        ("spare", 1, "sk-pool-spare-00002"),
    ):
        created = await org.owner.post(
            "/credentials",
            json={
                "provider": "openai",
                "fields": {"api_key": key},
                "label": label,
                "priority": priority,
            },
        )
        assert created.status_code == 201, created.text
    assistant = (await org.owner.post("/assistants", json=ASSISTANT)).json()
    call = Call(
        id=new_id("call"),
        org_id=org.id,
        assistant_id=assistant["id"],
        provider_call_id="CA" + "1" * 32,
    )
    async with api.runtime.session_factory() as session, session.begin():
        session.add(call)
    info = CallInfo(
        call_id=call.id,
        org_id=org.id,
        assistant_id=assistant["id"],
        provider_call_id=call.provider_call_id,
        account_sid="AC1",
    )
    return org.id, info, (await org.owner.get("/credentials")).json()


async def test_a_rate_limited_pool_key_cools_down_and_the_next_key_serves(api: Api) -> None:
    org_id, info, creds = await _setup(api)
    async with api.runtime.session_factory() as session:
        org = await session.get(Organization, org_id)
        assistant = await session.get(Assistant, info.assistant_id)
        assert org and assistant
        first = await api.runtime.resolver.resolve_stage(
            session, org=org, assistant=assistant, stage="llm"
        )
    assert first.api_key.reveal() == "sk-pool-primary-0001"
    nxt = await api.runtime.next_pool_key(info, first, "rate_limited")
    assert (
        nxt is not None
        and nxt.api_key.reveal() == "sk-pool-spare-00002"
        and nxt.source == "organization"
    )
    async with api.runtime.session_factory() as session:
        primary = await session.get(Credential, first.credential_id)
        assert primary is not None and primary.cooldown_until is not None
    assert await api.runtime.next_pool_key(info, nxt, "rate_limited") is None  # pool exhausted


async def test_managed_fallback_keeps_the_stage_options_and_says_why(api: Api) -> None:
    _, info, _ = await _setup(api)
    stage = await api.runtime.managed_key(info, "tts", "rate_limited")
    assert (
        stage is not None
        and stage.source == "managed_fallback"
        and stage.fallback_reason == "rate_limited"
    )
    assert stage.provider == "cartesia" and stage.options == {
        "voice_id": "a0e99841-438c-4a64-b679-ae501e7d6091"
    }
    assert await api.runtime.managed_key(info, "llm", "quota") is not None


async def test_an_auth_failure_marks_the_key_invalid_and_audits_it_without_the_secret(
    api: Api,
) -> None:
    org_id, info, creds = await _setup(api)
    async with api.runtime.session_factory() as session:
        org = await session.get(Organization, org_id)
        assistant = await session.get(Assistant, info.assistant_id)
        assert org and assistant
        stage = await api.runtime.resolver.resolve_stage(
            session, org=org, assistant=assistant, stage="llm"
        )
    plan = plan_failure(stage, ErrorCategory.AUTHENTICATION, policy="strict", service_usable=False)
    await api.runtime.report_credential_failure(info, stage, plan, "401 invalid_api_key")
    async with api.runtime.session_factory() as session:
        cred = await session.get(Credential, stage.credential_id)
        assert (
            cred is not None
            and cred.status == "invalid"
            and cred.last_error == "401 invalid_api_key"
        )
        from sqlalchemy import select

        from voxroute.db.models import AuditEvent

        rows = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "credential.auth_failed")
            )
        ).all()
    assert len(rows) == 1 and rows[0].target_id == stage.credential_id
    assert "sk-pool" not in str(rows[0].data)
