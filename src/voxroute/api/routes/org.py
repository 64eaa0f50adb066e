"""The caller's own organization and its tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from voxroute.api.deps import OwnerDep, ReaderDep, SessionDep
from voxroute.api.schemas.orgs import OrgPublic, TokenCreate, TokenCreated
from voxroute.audit import AuditAction, record
from voxroute.auth import Role, issue_token
from voxroute.orgs import get_org

router = APIRouter(prefix="/org", tags=["org"])


@router.get("", response_model=OrgPublic)
async def get_own_org(principal: ReaderDep, session: SessionDep) -> Any:
    """The organization the token belongs to."""
    return await get_org(session, principal.require_org())


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
async def create_token(principal: OwnerDep, session: SessionDep, body: TokenCreate) -> Any:
    """Owners issue member (or owner) tokens; the value is shown once."""
    org_id = principal.require_org()
    row, token = await issue_token(session, role=Role(body.role), org_id=org_id, name=body.name)
    record(
        session,
        action=AuditAction.TOKEN_CREATED,
        org_id=org_id,
        actor=principal.actor,
        target_type="token",
        target_id=row.id,
        data={"role": row.role},
    )
    return {"id": row.id, "role": row.role, "prefix": row.prefix, "token": token}
