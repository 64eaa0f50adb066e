"""Each worker's heartbeat in the `nodes` table, and the list `GET /admin/nodes` shows.

Why the database and not a Redis hash: the node's heartbeat decides when its calls are
settled as lost, and those calls, their credit holds and the ledger are in the database; the
reaper (`cluster.reaper`) finds "calls on a node not heard from" in one query and settles
them in the same store, so a Redis restart can neither hide a dead node nor make live ones
look dead, and a single node without Redis (several workers on SQLite) gets the same
guarantee. The cost is one small UPDATE per worker every `node_heartbeat_s`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute import __version__
from voxroute.db.base import utcnow
from voxroute.db.models import Node
from voxroute.db.transactions import run_update, run_write
from voxroute.settings import Settings
from voxroute.tasks import TaskGroup

__all__ = ["NodeHeartbeat", "NodeIdentity", "NodeStatus", "list_nodes"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """Who this worker is: unique across restarts (a pid is reused, the suffix is not)."""

    id: str
    address: str
    version: str
    pid: int

    @classmethod
    def from_settings(cls, settings: Settings) -> NodeIdentity:
        name = settings.node_name or socket.gethostname()[:40]
        pid = os.getpid()
        address = settings.node_address or f"{settings.host}:{settings.port}"
        return cls(f"{name}:{pid}:{secrets.token_hex(3)}", address, __version__, pid)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What a heartbeat reports."""

    live_calls: int
    loop_lag_ms: float
    draining: bool


class NodeHeartbeat:
    """Writes this worker's row now and every `interval_s`; marks it stopped on a clean stop.

    `healthy_for_s` is how long the heartbeat has been written without a failure: the reaper
    judges other nodes only once it has itself seen the database for as long as it takes to
    declare one dead, so an outage of the shared database (no node could write) never makes
    every node look dead to the first one back.
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        identity: NodeIdentity,
        status: Callable[[], NodeStatus],
        *,
        interval_s: float,
    ) -> None:
        self._factory = factory
        self.identity = identity
        self._status = status
        self.interval_s = interval_s
        self._tasks = TaskGroup("node-heartbeat")
        self._healthy_since: float | None = None

    @property
    def healthy_for_s(self) -> float:
        since = self._healthy_since
        return 0.0 if since is None else time.monotonic() - since

    async def start(self) -> None:
        await self.beat()
        self._tasks.spawn(self._loop(), "beat")

    async def stop(self) -> None:
        await self._tasks.cancel_all(grace_s=2.0)
        statement = (
            update(Node)
            .where(Node.id == self.identity.id)
            .values(stopped_at=utcnow(), live_calls=0, heartbeat_at=utcnow())
        )
        try:
            await run_update(self._factory, statement)
        except SQLAlchemyError as exc:  # it will look dead and be reaped: nothing to settle
            log.warning("node %s: could not record its stop: %s", self.identity.id, exc)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.beat()
            except (SQLAlchemyError, OSError) as exc:
                self._healthy_since = None
                log.warning("node heartbeat not written: %s", type(exc).__name__)

    async def beat(self) -> None:
        status = self._status()
        values: dict[str, Any] = {
            "live_calls": status.live_calls,
            "loop_lag_ms": round(status.loop_lag_ms, 1),
            "draining": status.draining,
            "heartbeat_at": utcnow(),
        }
        identity = self.identity

        async def work(session: AsyncSession) -> None:
            result = await session.execute(
                update(Node).where(Node.id == identity.id).values(**values)
            )
            if getattr(result, "rowcount", 0) == 0:
                session.add(
                    Node(
                        id=identity.id,
                        address=identity.address,
                        version=identity.version,
                        pid=identity.pid,
                        **values,
                    )
                )

        await run_write(self._factory, work)
        if self._healthy_since is None:
            self._healthy_since = time.monotonic()


async def list_nodes(
    session: AsyncSession, *, dead_after_s: float, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Every node not stopped, newest heartbeat first, with whether it is alive."""
    now = now or utcnow()
    rows = (
        await session.scalars(
            select(Node).where(Node.stopped_at.is_(None)).order_by(Node.heartbeat_at.desc())
        )
    ).all()
    return [
        {
            "id": row.id,
            "address": row.address,
            "version": row.version,
            "pid": row.pid,
            "live_calls": row.live_calls,
            "loop_lag_ms": row.loop_lag_ms,
            "draining": row.draining,
            "started_at": row.started_at,
            "last_heartbeat_at": row.heartbeat_at,
            "alive": (now - row.heartbeat_at).total_seconds() < dead_after_s,
            "reaped_at": row.reaped_at,
        }
        for row in rows
    ]
