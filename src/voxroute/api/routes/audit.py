"""The org's audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from voxroute.api.deps import ReaderDep, SessionDep
from voxroute.api.pagination import LINK_HEADER, PageDep
from voxroute.api.schemas.orgs import AuditEventPublic
from voxroute.db.models import AuditEvent

router = APIRouter(prefix="/audit-events", tags=["audit"])


@router.get("", response_model=list[AuditEventPublic], responses={200: {"headers": LINK_HEADER}})
async def list_audit_events(
    principal: ReaderDep,
    session: SessionDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    """Newest first; filter by action (e.g. credential.created)."""
    query = select(AuditEvent).where(AuditEvent.org_id == principal.require_org())
    if action:
        query = query.where(AuditEvent.action == action)
    query = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id)
    return page.rows((await session.scalars(page.apply(query))).all())
