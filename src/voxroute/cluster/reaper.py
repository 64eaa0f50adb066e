"""Settle the calls of a node that died (kill -9, lost machine): found through its heartbeat.

    every worker, every heartbeat ── nodes not heard from for `dead_after_s`
        ── claim the node (one UPDATE: exactly one worker wins)
        ── its calls still open ── expire_holds ─▶ billing `sweep` (charged once from the
           recorded usage and `alive_at`, marked `server_lost`)
        ── each call hung up at the carrier through its REST API

The billing sweeper would settle these calls anyway once their holds ran out (minutes); the
heartbeat finds them within `dead_after_s` and also ends the carrier's leg, which nobody
else would. A worker judges others only after it has itself written heartbeats for
`dead_after_s` (`NodeHeartbeat.healthy_for_s`), so after an outage of the shared database
the first node back does not take every other node for dead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.billing.policy import BillingPolicy
from voxroute.billing.reservations import expire_holds, sweep
from voxroute.calls.state import CallState, EndReason
from voxroute.cluster.nodes import NodeHeartbeat
from voxroute.db.base import utcnow
from voxroute.db.models import Call, Node
from voxroute.db.transactions import run_update, run_write
from voxroute.errors import VoxrouteError
from voxroute.tasks import TaskGroup

__all__ = ["LostCall", "NodeReaper"]

log = logging.getLogger(__name__)
FORGET_AFTER = timedelta(days=1)  # a gone node stays listed (and auditable) this long


@dataclass(frozen=True, slots=True)
class LostCall:
    """A call whose node died: what the carrier hang-up needs."""

    id: str
    org_id: str
    telephony_provider: str
    provider_call_id: str
    phone_number_id: str | None


CarrierHangUp = Callable[[LostCall], Awaitable[bool]]


class NodeReaper:
    """Finds nodes whose heartbeat stopped and closes their calls exactly once."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        policy: BillingPolicy,
        heartbeat: NodeHeartbeat,
        dead_after_s: float,
        carrier_hang_up: CarrierHangUp,
    ) -> None:
        self._factory = factory
        self._policy = policy
        self._heartbeat = heartbeat
        self._dead_after = timedelta(seconds=dead_after_s)
        self._carrier_hang_up = carrier_hang_up
        self._tasks = TaskGroup("node-reaper")

    async def start(self) -> None:
        self._tasks.spawn(self._loop(), "reap")

    async def stop(self) -> None:
        await self._tasks.cancel_all(grace_s=5.0)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat.interval_s)
            try:
                await self.reap_once()
                await self.forget_gone()
            except (SQLAlchemyError, VoxrouteError, OSError) as exc:  # the next round retries
                log.warning("node reaper: %s", type(exc).__name__)

    async def reap_once(self, now: datetime | None = None) -> list[LostCall]:
        """Settle and hang up the calls of every node found dead; the calls this worker did."""
        if self._heartbeat.healthy_for_s < self._dead_after.total_seconds():
            return []
        now = now or utcnow()
        async with self._factory() as session:
            dead = (
                await session.scalars(
                    select(Node.id).where(
                        Node.heartbeat_at < now - self._dead_after,
                        Node.stopped_at.is_(None),
                        Node.reaped_at.is_(None),
                        Node.id != self._heartbeat.identity.id,
                    )
                )
            ).all()
        lost: list[LostCall] = []
        for node_id in dead:
            lost += await self._reap(node_id, now)
        return lost

    async def forget_gone(self, now: datetime | None = None) -> int:
        """Delete the rows of nodes stopped or reaped more than `FORGET_AFTER` ago."""
        cutoff = (now or utcnow()) - FORGET_AFTER
        statement = (
            delete(Node)
            .where(or_(Node.stopped_at < cutoff, Node.reaped_at < cutoff))
            .execution_options(synchronize_session=False)
        )

        async def work(session: AsyncSession) -> int:
            result = await session.execute(statement)
            return int(getattr(result, "rowcount", 0) or 0)

        return await run_write(self._factory, work)

    async def _reap(self, node_id: str, now: datetime) -> list[LostCall]:
        claim = (
            update(Node)
            .where(Node.id == node_id, Node.reaped_at.is_(None))
            .values(reaped_at=now)
            .execution_options(synchronize_session=False)
        )
        if await run_update(self._factory, claim) != 1:
            return []  # another worker claimed it
        async with self._factory() as session:
            rows = (
                await session.execute(
                    select(
                        Call.id,
                        Call.org_id,
                        Call.telephony_provider,
                        Call.provider_call_id,
                        Call.phone_number_id,
                    ).where(Call.node_id == node_id, Call.status != CallState.ENDED.value)
                )
            ).all()
        calls = [LostCall(*row) for row in rows]
        ids = [call.id for call in calls]
        if not ids:
            log.warning("node %s died with no live call", node_id)
            return []
        await expire_holds(self._factory, ids, now=now)
        report = await sweep(
            self._factory, policy=self._policy, now=now, call_ids=ids, limit=max(1, len(ids))
        )
        # A call that never got its hold (it died setting up) has nothing to charge.
        await run_update(
            self._factory,
            update(Call)
            .where(Call.id.in_(ids), Call.status != CallState.ENDED.value)
            .values(
                status=CallState.ENDED.value,
                end_reason=EndReason.SERVER_LOST.value,
                ended_at=now,
            )
            .execution_options(synchronize_session=False),
        )
        log.warning("node %s died: %d calls settled (%s)", node_id, len(calls), report)
        for call in calls:
            if not await self._carrier_hang_up(call):
                log.warning("call %s: the carrier's leg could not be hung up", call.id)
        return calls
