"""The caller's own organization and its tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from voxroute.api.deps import OwnerDep, ReaderDep, SessionDep
from voxroute.api.pagination import LINK_HEADER, PageDep
from voxroute.api.schemas.orgs import (
    OrgPublic,
    TokenCreate,
    TokenCreated,
    TokenPublic,
)
from voxroute.audit import AuditAction, record
from voxroute.auth import Role, expires_in, issue_token, revoke_token, tokens_query
from voxroute.orgs import get_org

router = APIRouter(prefix="/org", tags=["org"])


@router.get("", response_model=OrgPublic)
async def get_own_org(principal: ReaderDep, session: SessionDep) -> Any:
    """The organization the token belongs to."""
    return await get_org(session, principal.require_org())


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
async def create_token(principal: OwnerDep, session: SessionDep, body: TokenCreate) -> Any:
    """Owners issue member (or owner) tokens, optionally expiring; the value is shown once."""
    org_id = principal.require_org()
    row, token = await issue_token(
        session,
        role=Role(body.role),
        org_id=org_id,
        name=body.name,
        expires_at=expires_in(body.expires_in_days),
    )
    record(
        session,
        action=AuditAction.TOKEN_CREATED,
        org_id=org_id,
        actor=principal.actor,
        target_type="token",
        target_id=row.id,
        data={"role": row.role},
    )
    return TokenCreated.of(row, token)


@router.get("/tokens", response_model=list[TokenPublic], responses={200: {"headers": LINK_HEADER}})
async def list_org_tokens(principal: OwnerDep, session: SessionDep, page: PageDep) -> Any:
    """The org's tokens with prefix, role, last use, expiry and revocation; never a value."""
    query = tokens_query(org_id=principal.require_org())
    return page.rows((await session.scalars(page.apply(query))).all())


@router.delete("/tokens/{token_id}", response_model=TokenPublic)
async def revoke_org_token(principal: OwnerDep, session: SessionDep, token_id: str) -> Any:
    """Revoke a token of the org: it fails at once, on every worker."""
    org_id = principal.require_org()
    row = await revoke_token(session, token_id=token_id, org_id=org_id, actor=principal.actor)
    return row
