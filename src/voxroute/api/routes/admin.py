"""Platform-admin operations: organizations, their BYOK switch and tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import select

from voxroute.api.deps import AdminDep, SessionDep
from voxroute.api.pagination import LINK_HEADER, PageDep
from voxroute.api.schemas.orgs import (
    ByokToggle,
    OrgCreate,
    OrgCreated,
    OrgPublic,
    TokenCreate,
    TokenCreated,
    TokenPublic,
)
from voxroute.auth import Role, expires_in, issue_token, revoke_token, tokens_query
from voxroute.db.models import Organization
from voxroute.orgs import create_org, get_org, set_byok_enabled

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post("/orgs", response_model=OrgCreated, status_code=status.HTTP_201_CREATED)
async def admin_create_org(principal: AdminDep, session: SessionDep, body: OrgCreate) -> Any:
    """Create an organization and return its owner token once."""
    org, token = await create_org(
        session, name=body.name, byok=body.byok_enabled, actor=principal.actor
    )
    return {"org_id": org.id, "org": OrgPublic.model_validate(org), "token": token}


@router.get("/orgs", response_model=list[OrgPublic], responses={200: {"headers": LINK_HEADER}})
async def admin_list_orgs(_: AdminDep, session: SessionDep, page: PageDep) -> Any:
    """Organizations, oldest first, a page at a time."""
    query = select(Organization).order_by(Organization.created_at, Organization.id)
    return page.rows((await session.scalars(page.apply(query))).all())


@router.put("/orgs/{org_id}/byok", response_model=OrgPublic)
async def admin_set_byok(
    principal: AdminDep, session: SessionDep, org_id: str, body: ByokToggle
) -> Any:
    """Enable or disable BYOK for an organization."""
    org = await get_org(session, org_id)
    return await set_byok_enabled(session, org, body.enabled, actor=principal.actor)


@router.post(
    "/orgs/{org_id}/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED
)
async def admin_create_token(
    principal: AdminDep, session: SessionDep, org_id: str, body: TokenCreate
) -> Any:
    """Issue an owner or member token for an organization."""
    org = await get_org(session, org_id)
    row, token = await issue_token(
        session,
        role=Role(body.role),
        org_id=org.id,
        name=body.name,
        expires_at=expires_in(body.expires_in_days),
    )
    return TokenCreated.of(row, token)


@router.get(
    "/orgs/{org_id}/tokens",
    response_model=list[TokenPublic],
    responses={200: {"headers": LINK_HEADER}},
)
async def admin_list_tokens(_: AdminDep, session: SessionDep, org_id: str, page: PageDep) -> Any:
    """An organization's tokens (never a value), newest first, a page at a time."""
    query = tokens_query(org_id=(await get_org(session, org_id)).id)
    return page.rows((await session.scalars(page.apply(query))).all())


@router.delete("/orgs/{org_id}/tokens/{token_id}", response_model=TokenPublic)
async def admin_revoke_token(
    principal: AdminDep, session: SessionDep, org_id: str, token_id: str
) -> Any:
    """Revoke one of an organization's tokens."""
    org = await get_org(session, org_id)
    row = await revoke_token(session, token_id=token_id, org_id=org.id, actor=principal.actor)
    return row
