"""API reads have a connection pool of their own: they never deadlock it, never hold two
connections at once, and never make a webhook wait."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import text

from tests.utils.api import Api
from tests.utils.twilio import add_number, voice_webhook
from voxroute.calls.state import CallState
from voxroute.db.base import new_id
from voxroute.db.models import Call

POOL = 2


@pytest.fixture
def api_settings() -> dict[str, object]:
    return {"api_db_pool_size": POOL, "api_db_pool_timeout_s": 2.0}


async def _ended_call(api: Api, org_id: str) -> str:
    call = Call(
        id=new_id("call"),
        org_id=org_id,
        assistant_id=None,
        phone_number_id=None,
        telephony_provider="web",
        provider_call_id="WEB" + "1" * 32,
        from_number="",
        to_number="",
        status=CallState.ENDED.value,
    )
    async with api.runtime.session_factory() as session, session.begin():
        session.add(call)
    return call.id


async def test_forty_concurrent_call_reads_from_one_token_all_answer(api: Api) -> None:
    org = await api.new_org()
    call_id = await _ended_call(api, org.id)

    answers = await asyncio.gather(*(org.member.get(f"/calls/{call_id}") for _ in range(40)))

    assert [a.status_code for a in answers] == [200] * 40, {a.text for a in answers}
    assert all(a.json()["cost"]["call_id"] == call_id for a in answers)


async def test_concurrent_top_ups_all_answer(api: Api) -> None:
    org = await api.new_org()
    answers = await asyncio.gather(
        *(
            api.admin.post(
                "/billing/credits",
                json={"org_id": org.id, "amount": 1000},
                headers={"Idempotency-Key": f"k-{n}"},
            )
            for n in range(20)
        )
    )
    assert [a.status_code for a in answers] == [201] * 20, {a.text for a in answers}
    balance = (await org.member.get("/billing/balance")).json()
    assert balance["balance"] == 20 * 1000


async def test_an_exhausted_api_pool_answers_503_and_webhooks_still_answer(api: Api) -> None:
    api.new_org_credit_micros = 1_000_000
    api.runtime.registry.loop_lag_limit_ms = float("inf")  # the test's own load is no signal
    org = await api.new_org()
    await add_number(org, "+15551230077")
    async with AsyncExitStack() as stack:
        for _ in range(POOL):  # every API connection busy, as under a flood of reads
            session = await stack.enter_async_context(api.runtime.api_sessions())
            await session.execute(text("SELECT 1"))

        busy = await org.member.get("/calls")
        answer = await voice_webhook(api, "+15551230077", "CA" + "5" * 32)

    assert busy.status_code == 503, busy.text
    assert busy.json()["error"]["code"] == "database_busy"
    assert busy.headers["Retry-After"] == "1"
    assert answer.status_code == 200, answer.text
    assert ET.fromstring(answer.text).find("./Connect/Stream") is not None
    assert (await org.member.get("/calls")).status_code == 200  # recovered
