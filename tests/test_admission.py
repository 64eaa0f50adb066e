"""The one admission gate: role, worker capacity, credit and the org cap, for every entry path."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import update

from tests.utils.api import Api
from tests.utils.twilio import ASSISTANT, add_number, voice_webhook
from voxroute.admission import CallAdmission
from voxroute.auth import Principal, Role
from voxroute.billing import topup
from voxroute.calls.registry import CallRegistry
from voxroute.calls.slots import InProcessOrgSlots, SlotsUnavailable
from voxroute.calls.state import EndReason
from voxroute.db.models import Organization
from voxroute.drain import DrainState
from voxroute.errors import Forbidden
from voxroute.orgs import create_org

NUMBER = "+15551239876"


@pytest.fixture(autouse=True)
def steady_loop(api: Api) -> None:
    """The suite's own CPU work lags the shared event loop; capacity is tested explicitly."""
    api.runtime.registry.loop_lag_limit_ms = float("inf")


async def _cap(api: Api, org_id: str, limit: int) -> None:
    async with api.runtime.session_factory() as session, session.begin():
        await session.execute(
            update(Organization).where(Organization.id == org_id).values(max_concurrent_calls=limit)
        )


async def test_web_calls_past_the_org_cap_are_refused_and_another_orgs_phone_call_is_answered(
    api: Api,
) -> None:
    api.new_org_credit_micros = 5_000_000
    flooder, victim = await api.new_org("Flooder"), await api.new_org("Victim")
    await _cap(api, flooder.id, 1)
    theirs = (await flooder.owner.post("/assistants", json=ASSISTANT)).json()["id"]

    answers = await asyncio.gather(
        *(flooder.owner.post("/calls/web", json={"assistant_id": theirs}) for _ in range(20))
    )

    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [429] * 19, codes
    assert sum("call_token" in a.text for a in answers) == 1
    # The victim's signed Twilio call is still answered with a media stream.
    await add_number(victim, NUMBER)
    answer = await voice_webhook(api, NUMBER, "CA" + "7" * 32)
    assert answer.status_code == 200, answer.text
    assert ET.fromstring(answer.text).find("./Connect/Stream") is not None


async def test_a_phone_call_past_the_org_cap_is_refused_busy_and_recorded(api: Api) -> None:
    api.new_org_credit_micros = 5_000_000
    org = await api.new_org()
    await _cap(api, org.id, 1)
    assistant = (await org.owner.post("/assistants", json=ASSISTANT)).json()["id"]
    assert (await org.owner.post("/calls/web", json={"assistant_id": assistant})).is_success
    await add_number(org, NUMBER, assistant)
    answer = await voice_webhook(api, NUMBER, "CA" + "8" * 32)
    assert answer.status_code == 200
    assert ET.fromstring(answer.text).find("./Reject") is not None
    calls = (await org.owner.get("/calls")).json()
    assert sorted(c["end_reason"] or "" for c in calls) == ["", "org_concurrency_limit"]


# -- the gate itself ---------------------------------------------------------------------


def _gate(
    registry: CallRegistry, slots: InProcessOrgSlots, needed_micros: int = 100
) -> CallAdmission:
    return CallAdmission(
        registry=registry, org_slots=slots, needed_micros=needed_micros, pending_ttl_s=60
    )


def _registry() -> CallRegistry:
    return CallRegistry(max_calls=2, loop_lag_limit_ms=float("inf"))


async def _funded_org(api: Api, micros: int) -> str:
    async with api.runtime.session_factory() as session, session.begin():
        org, _ = await create_org(session, name="Gate")
    if micros:
        await topup(
            api.runtime.session_factory, org_id=org.id, amount_micros=micros, idempotency_key="g"
        )
    return org.id


async def test_the_gate_refuses_without_credit_and_holds_no_slot(api: Api) -> None:
    org_id = await _funded_org(api, 99)
    slots = InProcessOrgSlots(lease_s=60)
    gate = _gate(_registry(), slots)
    async with api.runtime.session_factory() as session:
        refusal = await gate.admit(session, org_id=org_id, call_id="c1", max_concurrent=5)
    assert refusal is not None and refusal.reason is EndReason.INSUFFICIENT_CREDIT
    assert await slots.active(org_id) == 0


async def test_the_gate_refuses_a_full_worker_before_anything_else(api: Api) -> None:
    org_id = await _funded_org(api, 1_000)
    registry, slots = _registry(), InProcessOrgSlots(lease_s=60)
    registry.admit("a")
    registry.admit("b")
    async with api.runtime.session_factory() as session:
        refusal = await _gate(registry, slots).admit(
            session, org_id=org_id, call_id="c", max_concurrent=5
        )
    assert refusal is not None and refusal.reason is EndReason.REJECTED_CAPACITY
    assert refusal.retry_after_s > 0
    assert await slots.active(org_id) == 0


async def test_the_gate_leases_one_slot_per_call_up_to_the_cap_and_cancel_frees_it(
    api: Api,
) -> None:
    org_id = await _funded_org(api, 1_000)
    slots = InProcessOrgSlots(lease_s=60)
    gate = _gate(_registry(), slots)
    async with api.runtime.session_factory() as session:
        first = await gate.admit(session, org_id=org_id, call_id="c1", max_concurrent=1)
        second = await gate.admit(session, org_id=org_id, call_id="c2", max_concurrent=1)
        assert first is None
        assert second is not None and second.reason is EndReason.ORG_CONCURRENCY_LIMIT
        await gate.cancel(org_id=org_id, call_id="c1")
        assert await gate.admit(session, org_id=org_id, call_id="c3", max_concurrent=1) is None


class _BrokenSlots(InProcessOrgSlots):
    async def acquire(self, org_id: str, call_id: str, *, limit: int, ttl_s: float) -> bool:
        raise SlotsUnavailable("redis is down")


async def test_the_gate_fails_closed_when_the_slot_store_is_down(api: Api) -> None:
    org_id = await _funded_org(api, 1_000)
    gate = _gate(_registry(), _BrokenSlots(lease_s=60))
    async with api.runtime.session_factory() as session:
        refusal = await gate.admit(session, org_id=org_id, call_id="c", max_concurrent=5)
    assert refusal is not None and refusal.reason is EndReason.ORG_CONCURRENCY_LIMIT


@pytest.mark.parametrize(
    ("role", "org"),
    [(Role.MEMBER, "mine"), (Role.OWNER, "theirs"), (Role.PLATFORM_ADMIN, None)],
)
async def test_only_an_owner_of_the_calls_org_may_start_it(
    api: Api, role: Role, org: str | None
) -> None:
    org_id = await _funded_org(api, 1_000)
    slots = InProcessOrgSlots(lease_s=60)
    principal = Principal(
        token_id="tok", role=role, org_id={"mine": org_id, "theirs": "org_x"}.get(org or "")
    )
    async with api.runtime.session_factory() as session:
        with pytest.raises(Forbidden):
            await _gate(_registry(), slots).admit(
                session, org_id=org_id, call_id="c", max_concurrent=5, principal=principal
            )
    assert await slots.active(org_id) == 0


async def test_a_draining_node_refuses_every_entry_path_and_holds_no_slot(api: Api) -> None:
    api.new_org_credit_micros = 5_000_000
    org = await api.new_org()
    assistant = (await org.owner.post("/assistants", json=ASSISTANT)).json()["id"]
    await add_number(org, NUMBER, assistant)
    api.runtime.drain.begin()
    try:
        web = await org.owner.post("/calls/web", json={"assistant_id": assistant})
        phone = await voice_webhook(api, NUMBER, "CA" + "9" * 32)
        ready = await api.anon.get("http://test/health/ready")
    finally:
        api.runtime.drain.state = DrainState.SERVING
    assert web.status_code == 503, web.text
    assert phone.status_code == 200 and ET.fromstring(phone.text).find("./Reject") is not None
    assert ready.status_code == 503 and ready.json()["status"] == "draining"
    calls = (await org.owner.get("/calls")).json()
    assert [c["end_reason"] for c in calls] == ["rejected_draining"]
    assert await api.runtime.org_slots.active(org.id) == 0
    assert (await api.anon.get("http://test/health/ready")).status_code == 200
