"""The org's audit trail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from voxroute.api.deps import ReaderDep, SessionDep
from voxroute.api.schemas.orgs import AuditEventPublic
from voxroute.db.models import AuditEvent

router = APIRouter(prefix="/audit-events", tags=["audit"])


@router.get("", response_model=list[AuditEventPublic])
async def list_audit_events(
    principal: ReaderDep,
    session: SessionDep,
    action: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> Any:
    """Newest first; filter by action (e.g. credential.created)."""
    query = select(AuditEvent).where(AuditEvent.org_id == principal.require_org())
    if action:
        query = query.where(AuditEvent.action == action)
    query = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id).limit(limit)
    return list((await session.scalars(query)).all())
