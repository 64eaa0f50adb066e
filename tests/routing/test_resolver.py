"""Resolution against the real database and vault, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import event

from tests.utils.api import Api
from voxroute.db.models import Assistant, Organization
from voxroute.errors import KeyNotFound

ASSISTANT = {
    "name": "Mixed",
    "stt_config": {
        "provider": "deepgram",
        "byo_api_keys": {"deepgram": {"api_key": "dg-assistant-key-0001"}},
    },
    "llm_config": {"provider": "openai"},
    "tts_config": {"provider": "cartesia", "voice_id": "a0e99841-438c-4a64-b679-ae501e7d6091"},
}


async def _load(api: Api, org_id: str, assistant_id: str) -> tuple[Organization, Assistant]:
    async with api.runtime.session_factory() as session:
        org = await session.get(Organization, org_id)
        assistant = await session.get(Assistant, assistant_id)
        assert org and assistant
        return org, assistant


async def test_each_stage_resolves_independently_to_assistant_org_and_managed_keys(
    api: Api,
) -> None:
    org = await api.new_org()
    await org.owner.post("/byok", json={"provider": "openai", "api_key": "sk-org-openai-key-0001"})
    created = (await org.owner.post("/assistants", json=ASSISTANT)).json()
    o, a = await _load(api, org.id, created["id"])
    async with api.runtime.session_factory() as session:
        stt, llm, tts = await api.runtime.resolver.resolve(session, org=o, assistant=a)
    assert (stt.source, llm.source, tts.source) == ("assistant", "organization", "managed")
    assert stt.api_key.reveal() == "dg-assistant-key-0001"
    assert llm.api_key.reveal() == "sk-org-openai-key-0001"
    assert tts.api_key.reveal() == "managed-cartesia-0000000"
    assert (
        llm.model == "gpt-4o-mini"
        and tts.options["voice_id"] == "a0e99841-438c-4a64-b679-ae501e7d6091"
    )
    trace = [s.trace() for s in (stt, llm, tts)]
    assert (
        trace[0]["credential_id"]
        == created["stt_config"]["byo_api_keys"]["deepgram"]["credential_id"]
    )
    assert trace[2]["credential_id"] is None and "secret" not in str(trace)


async def test_org_keys_are_ignored_when_use_my_keys_is_off(api: Api) -> None:
    org = await api.new_org()
    await org.owner.post("/byok", json={"provider": "openai", "api_key": "sk-org-openai-key-0001"})
    await org.owner.put("/byok/settings", json={"use_own_keys": False})
    created = (await org.owner.post("/assistants", json=ASSISTANT)).json()
    o, a = await _load(api, org.id, created["id"])
    async with api.runtime.session_factory() as session:
        llm = await api.runtime.resolver.resolve_stage(session, org=o, assistant=a, stage="llm")
    assert llm.source == "managed"


async def test_reverting_byo_keys_falls_back_to_org_then_managed(api: Api) -> None:
    org = await api.new_org()
    created = (await org.owner.post("/assistants", json=ASSISTANT)).json()
    patched = await org.owner.patch(
        f"/assistants/{created['id']}",
        json={"stt_config": {"provider": "deepgram", "byo_api_keys": None}},
    )
    assert patched.status_code == 200 and patched.json()["stt_config"]["byo_api_keys"] == {}
    o, a = await _load(api, org.id, created["id"])
    async with api.runtime.session_factory() as session:
        stt = await api.runtime.resolver.resolve_stage(session, org=o, assistant=a, stage="stt")
    assert stt.source == "managed"


async def test_a_stage_without_any_key_fails_with_a_clear_reason(api: Api) -> None:
    org = await api.new_org()
    body = dict(ASSISTANT, tts_config={"provider": "elevenlabs"})
    created = (await org.owner.post("/assistants", json=body)).json()
    o, a = await _load(api, org.id, created["id"])
    async with api.runtime.session_factory() as session:
        try:
            await api.runtime.resolver.resolve(session, org=o, assistant=a)
        except KeyNotFound as exc:
            assert "tts" in exc.message and "elevenlabs" in exc.message
        else:
            raise AssertionError("resolution should fail without an elevenlabs key")


async def test_a_call_reads_its_candidate_keys_once_and_never_another_assistants(
    api: Api,
) -> None:
    org = await api.new_org()
    await org.owner.post("/byok", json={"provider": "openai", "api_key": "sk-org-openai-key-0001"})
    created = (await org.owner.post("/assistants", json=ASSISTANT)).json()
    other = dict(
        ASSISTANT,
        name="Other",
        tts_config={
            "provider": "cartesia",
            "byo_api_keys": {"cartesia": {"api_key": "other-assistants-cartesia-key-01"}},
        },
    )
    assert (await org.owner.post("/assistants", json=other)).status_code == 201
    o, a = await _load(api, org.id, created["id"])
    reads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if re.search(r"\bFROM credentials\b", statement):
            reads.append(statement)

    engine = api.runtime.session_factory.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with api.runtime.session_factory() as session:
            stt, llm, tts = await api.runtime.resolver.resolve(session, org=o, assistant=a)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert (stt.source, llm.source, tts.source) == ("assistant", "organization", "managed")
    assert tts.api_key.reveal() == "managed-cartesia-0000000"
    assert len(reads) == 1
