"""Organizations: creation with an owner token, the BYOK switches, lookups scoped by org."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.audit import AuditAction, record
from voxroute.auth import Role, issue_token
from voxroute.db.base import new_id
from voxroute.db.models import Organization
from voxroute.errors import Forbidden, InvalidInput, NotFound


async def create_org(
    session: AsyncSession, *, name: str, byok: bool = False, actor: str = "system"
) -> tuple[Organization, str]:
    """Create an org and its first owner token (returned in plain once)."""
    org = Organization(
        id=new_id("org"), name=name, byok_enabled=byok, use_own_keys=byok, failure_policy="strict"
    )
    session.add(org)
    await session.flush()
    token_row, token = await issue_token(session, role=Role.OWNER, org_id=org.id, name="owner")
    record(
        session,
        action=AuditAction.ORG_CREATED,
        org_id=org.id,
        actor=actor,
        target_type="organization",
        target_id=org.id,
        data={"byok_enabled": byok},
    )
    record(
        session,
        action=AuditAction.TOKEN_CREATED,
        org_id=org.id,
        actor=actor,
        target_type="token",
        target_id=token_row.id,
        data={"role": Role.OWNER.value},
    )
    return org, token


def _record_change(
    session: AsyncSession, org: Organization, action: AuditAction, actor: str, data: dict[str, Any]
) -> None:
    """An audited change of one of the org's own settings."""
    record(
        session,
        action=action,
        org_id=org.id,
        actor=actor,
        target_type="organization",
        target_id=org.id,
        data=data,
    )


async def get_org(session: AsyncSession, org_id: str) -> Organization:
    """The org with this id; `NotFound` if there is none."""
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("organization not found")
    return org


async def set_byok_enabled(
    session: AsyncSession, org: Organization, enabled: bool, *, actor: str
) -> Organization:
    """Platform switch. Enabling starts with the org's 'use my keys' on."""
    if org.byok_enabled != enabled:
        org.byok_enabled = enabled
        org.use_own_keys = enabled
        _record_change(
            session,
            org,
            AuditAction.BYOK_ENABLED if enabled else AuditAction.BYOK_DISABLED,
            actor,
            {"byok_enabled": enabled},
        )
    return org


async def set_use_own_keys(
    session: AsyncSession, org: Organization, use: bool, *, actor: str
) -> Organization:
    """The owner's 'use my keys' switch; `Forbidden` unless the platform enabled BYOK."""
    if use and not org.byok_enabled:
        raise Forbidden("BYOK is not enabled for this organization by the platform")
    if org.use_own_keys != use:
        org.use_own_keys = use
        _record_change(session, org, AuditAction.BYOK_USE_OWN_KEYS, actor, {"use_own_keys": use})
    return org


async def set_failure_policy(
    session: AsyncSession, org: Organization, policy: str, *, actor: str
) -> Organization:
    """The org's default: `strict` or `fallback_to_managed` (assistants may override)."""
    if org.failure_policy != policy:
        _record_change(
            session,
            org,
            AuditAction.FAILURE_POLICY_CHANGED,
            actor,
            {"from": org.failure_policy, "to": policy},
        )
        org.failure_policy = policy
    return org


async def set_call_limit(
    session: AsyncSession, org: Organization, limit: int, *, actor: str
) -> Organization:
    """Platform switch: at most `limit` concurrent calls for the org (its slots)."""
    if limit < 1:
        raise InvalidInput("the call limit must be at least 1")
    if org.max_concurrent_calls != limit:
        _record_change(
            session,
            org,
            AuditAction.ORG_CALL_LIMIT_CHANGED,
            actor,
            {"from": org.max_concurrent_calls, "to": limit},
        )
        org.max_concurrent_calls = limit
    return org


async def list_orgs(session: AsyncSession) -> list[Organization]:
    """Every org, oldest first."""
    return list(
        (await session.scalars(select(Organization).order_by(Organization.created_at))).all()
    )
