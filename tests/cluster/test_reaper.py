"""A node whose heartbeat stopped: its calls are settled once through the billing sweep,
marked `server_lost`, and hung up at the carrier; live nodes' calls are not touched."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.utils.api import Api
from voxroute.billing.reservations import hold_credit
from voxroute.cluster.nodes import NodeIdentity
from voxroute.cluster.reaper import LostCall, NodeReaper
from voxroute.db.base import new_id, utcnow
from voxroute.db.models import Call, LedgerEntry, Node, Reservation
from voxroute.db.transactions import run_write

DEAD_AFTER_S = 20.0


@dataclass
class Heartbeat:
    """The reaper's view of its own heartbeat."""

    healthy_for_s: float = DEAD_AFTER_S
    interval_s: float = 1.0
    identity: NodeIdentity = field(
        default_factory=lambda: NodeIdentity("reaper-node", "127.0.0.1:1", "test", 1)
    )


@dataclass
class Carrier:
    hung_up: list[str] = field(default_factory=list)

    async def __call__(self, call: LostCall) -> bool:
        self.hung_up.append(call.provider_call_id)
        return True


async def _node_with_call(api: Api, org_id: str, node_id: str, heard_s_ago: float) -> str:
    now = utcnow()
    call_id = new_id("call")
    policy = api.runtime.billing.policy

    async def work(session: AsyncSession) -> None:
        session.add(
            Node(
                id=node_id,
                address="10.0.0.9:8000",
                version="test",
                pid=9,
                live_calls=1,
                loop_lag_ms=0.0,
                draining=False,
                started_at=now - timedelta(hours=1),
                heartbeat_at=now - timedelta(seconds=heard_s_ago),
            )
        )
        session.add(
            Call(
                id=call_id,
                org_id=org_id,
                provider_call_id="CA" + call_id[-32:].rjust(32, "0"),
                status="connected",
                node_id=node_id,
                connected_at=now - timedelta(seconds=90),
            )
        )
        await session.flush()
        await hold_credit(
            session, org_id=org_id, call_id=call_id, amount_micros=100_000, policy=policy
        )

    await run_write(api.runtime.session_factory, work)
    return call_id


async def test_a_dead_nodes_call_is_settled_once_marked_lost_and_hung_up_at_the_carrier(
    api: Api,
) -> None:
    api.new_org_credit_micros = 5_000_000
    org = await api.new_org()
    lost = await _node_with_call(api, org.id, "dead-node", heard_s_ago=DEAD_AFTER_S + 5)
    live = await _node_with_call(api, org.id, "live-node", heard_s_ago=1)
    carrier = Carrier()
    reapers = [
        NodeReaper(
            api.runtime.session_factory,
            policy=api.runtime.billing.policy,
            heartbeat=Heartbeat(),  # type: ignore[arg-type]
            dead_after_s=DEAD_AFTER_S,
            carrier_hang_up=carrier,
        )
        for _ in range(2)  # two workers reaping at once
    ]
    found = await asyncio.gather(*(reaper.reap_once() for reaper in reapers))
    assert sorted(len(calls) for calls in found) == [0, 1]
    again = await reapers[0].reap_once()
    assert again == []

    async with api.runtime.session_factory() as session:
        calls = {c.id: c for c in (await session.scalars(select(Call))).all()}
        holds = {r.call_id: r for r in (await session.scalars(select(Reservation))).all()}
        charges = (
            await session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "call_charge"))
        ).all()
        node = await session.get(Node, "dead-node")
    assert calls[lost].status == "ended" and calls[lost].end_reason == "server_lost"
    assert calls[live].status == "connected" and holds[live].status == "held"
    assert holds[lost].status == "expired"
    assert [c.call_id for c in charges] == [lost]
    assert charges[0].amount_micros < 0  # 90 s connected: the platform fee at least
    assert carrier.hung_up == [calls[lost].provider_call_id]
    assert node is not None and node.reaped_at is not None


async def test_a_worker_that_has_not_seen_the_database_long_enough_judges_no_one(
    api: Api,
) -> None:
    api.new_org_credit_micros = 5_000_000
    org = await api.new_org()
    call_id = await _node_with_call(api, org.id, "quiet-node", heard_s_ago=DEAD_AFTER_S + 5)
    carrier = Carrier()
    reaper = NodeReaper(
        api.runtime.session_factory,
        policy=api.runtime.billing.policy,
        heartbeat=Heartbeat(healthy_for_s=DEAD_AFTER_S / 2),  # type: ignore[arg-type]
        dead_after_s=DEAD_AFTER_S,
        carrier_hang_up=carrier,
    )
    assert await reaper.reap_once() == []
    async with api.runtime.session_factory() as session:
        call = await session.get(Call, call_id)
    assert call is not None and call.status == "connected" and carrier.hung_up == []


async def test_the_admin_lists_the_nodes_with_their_heartbeat(api: Api) -> None:
    listed = await api.admin.get("/admin/nodes")
    assert listed.status_code == 200, listed.text
    (me,) = [n for n in listed.json() if n["id"] == api.runtime.node_id]
    assert me["alive"] is True and me["draining"] is False and me["live_calls"] == 0
    assert set(me) >= {"address", "version", "loop_lag_ms", "last_heartbeat_at"}
    org = await api.new_org()
    assert (await org.owner.get("/admin/nodes")).status_code == 403


async def test_nodes_gone_for_a_day_are_forgotten(api: Api) -> None:
    api.new_org_credit_micros = 5_000_000
    org = await api.new_org()
    await _node_with_call(api, org.id, "old-node", heard_s_ago=3 * 86400)
    reaper = NodeReaper(
        api.runtime.session_factory,
        policy=api.runtime.billing.policy,
        heartbeat=Heartbeat(),  # type: ignore[arg-type]
        dead_after_s=DEAD_AFTER_S,
        carrier_hang_up=Carrier(),
    )
    await reaper.reap_once(now=utcnow() - timedelta(days=2))
    assert await reaper.forget_gone() == 1
    async with api.runtime.session_factory() as session:
        assert await session.get(Node, "old-node") is None
        assert await session.get(Node, api.runtime.node_id) is not None
