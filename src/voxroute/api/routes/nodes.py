"""Platform admin: the voxroute nodes (worker processes) sharing this database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from voxroute.api.deps import AdminDep, RuntimeDep, SessionDep
from voxroute.cluster.nodes import list_nodes

router = APIRouter(prefix="/admin", tags=["admin"])


class NodePublic(BaseModel):
    """One worker as its last heartbeat described it."""

    id: str
    address: str
    version: str
    pid: int
    live_calls: int
    loop_lag_ms: float
    draining: bool
    started_at: datetime
    last_heartbeat_at: datetime
    # False once the node has not been heard from for VOXROUTE_NODE_DEAD_AFTER_S.
    alive: bool
    # When its calls were settled as lost (a dead node), else null.
    reaped_at: datetime | None


@router.get("/nodes", response_model=list[NodePublic])
async def admin_list_nodes(_: AdminDep, runtime: RuntimeDep, session: SessionDep) -> Any:
    """Every running worker of every node: heartbeat, live calls, loop lag, draining."""
    return await list_nodes(session, dead_after_s=runtime.settings.node_dead_after_s)
