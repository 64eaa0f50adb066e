"""A call's set-up reads with the real runtime: few round trips, the right rows."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.utils.api import Api
from tests.utils.sql import statements
from voxroute.billing import topup
from voxroute.calls.records import load_call_setup
from voxroute.db.base import new_id
from voxroute.db.models import Call, PhoneNumber
from voxroute.telephony.twilio.tokens import consume_call_token, issue_call_token

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "c4a7a2f0e1d2c3b4a5f6e7d8c9b04242"
ASSISTANT = {
    "name": "Front desk",
    "stt_config": {"provider": "deepgram"},
    "llm_config": {"provider": "openai"},
    "tts_config": {"provider": "cartesia", "voice_id": "a0e99841-438c-4a64-b679-ae501e7d6091"},
}


async def _ringing_call(api: Api) -> tuple[Call, str]:
    org = await api.new_org()
    await topup(
        api.runtime.session_factory, org_id=org.id, amount_micros=1_000_000, idempotency_key="t"
    )
    assistant_id = (await org.owner.post("/assistants", json=ASSISTANT)).json()["id"]
    number = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    created = await org.owner.post(
        "/phone-numbers",
        json={"number": "+15551230001", "assistant_id": assistant_id, "telephony": number},
    )
    assert created.status_code == 201, created.text
    call = Call(
        id=new_id("call"),
        org_id=org.id,
        assistant_id=assistant_id,
        phone_number_id=created.json()["id"],
        telephony_provider="twilio",
        provider_call_id="CA" + "7" * 32,
        status="ringing",
    )
    token = issue_call_token(call, ttl_s=60)
    async with api.runtime.session_factory() as session, session.begin():
        session.add(call)
    return call, token


async def test_claiming_a_stream_token_is_one_statement_and_only_once(api: Api) -> None:
    call, token = await _ringing_call(api)
    async with api.runtime.session_factory() as session, session.begin():
        with statements(api.runtime.session_factory) as seen:
            claimed = await consume_call_token(session, token)
    assert claimed.id == call.id and claimed.call_token_used_at is not None
    assert len(seen) == 1 and seen[0].lstrip().upper().startswith("UPDATE")


async def test_set_up_reads_its_configuration_in_two_statements(api: Api) -> None:
    """Assistant, org and number in one; the candidate keys in one. The Twilio token is
    read only if the call is hung up through Twilio REST."""
    call, token = await _ringing_call(api)
    async with api.runtime.session_factory() as session, session.begin():
        call = await consume_call_token(session, token)
    with statements(api.runtime.session_factory) as seen:
        setup = await load_call_setup(api.runtime, call, ACCOUNT_SID)
    writes = [i for i, s in enumerate(seen) if re.match(r"\s*(BEGIN|INSERT|UPDATE)", s, re.I)]
    reads = seen[: writes[0]]
    assert len(reads) == 2, reads
    assert setup.hang_up_secret is not None
    with statements(api.runtime.session_factory) as opened:
        assert (await setup.hang_up_secret()).reveal() == AUTH_TOKEN
    assert len(opened) == 1, opened
    assert setup.assistant.system_prompt is not None
    assert [s.source for s in setup.stages.values()] == ["managed"] * 3
    async with api.runtime.session_factory() as session:
        stored = await session.scalar(select(Call).where(Call.id == call.id))
        number = await session.scalar(select(PhoneNumber))
    assert stored is not None and stored.status == "connected"
    assert number is not None and number.account_sid == ACCOUNT_SID
