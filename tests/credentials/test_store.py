"""The credential store's one-statement open (a call's set-up path pays per round trip)."""

from __future__ import annotations

import pytest

from tests.utils.api import Api
from tests.utils.sql import statements
from voxroute.errors import NotFound

SECRET = "sk-org-openai-key-canary-0042"


async def test_open_by_id_decrypts_in_one_statement_what_get_and_open_do(api: Api) -> None:
    org = await api.new_org()
    created = await org.owner.post("/byok", json={"provider": "openai", "api_key": SECRET})
    credential_id = created.json()["byok_keys"]["openai_secret_id"]
    store = api.runtime.store
    async with api.runtime.session_factory() as session:
        credential = await store.get(session, org_id=org.id, credential_id=credential_id)
        opened = await store.open(session, credential)
    async with api.runtime.session_factory() as session:
        with statements(api.runtime.session_factory) as seen:
            by_id = await store.open_by_id(session, org_id=org.id, credential_id=credential_id)
    assert len(seen) == 1
    assert {k: v.reveal() for k, v in by_id.items()} == {k: v.reveal() for k, v in opened.items()}
    assert by_id["api_key"].reveal() == SECRET


async def test_open_by_id_does_not_open_another_orgs_credential(api: Api) -> None:
    owner, other = await api.new_org("Owner"), await api.new_org("Other")
    created = await owner.owner.post("/byok", json={"provider": "openai", "api_key": SECRET})
    async with api.runtime.session_factory() as session:
        with pytest.raises(NotFound) as raised:
            await api.runtime.store.open_by_id(
                session,
                org_id=other.id,
                credential_id=created.json()["byok_keys"]["openai_secret_id"],
            )
    assert SECRET not in str(raised.value)
