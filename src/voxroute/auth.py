"""API tokens: generated once, stored as SHA-256, identified by a visible prefix; roles."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.audit import AuditAction, record
from voxroute.db.base import new_id, utcnow
from voxroute.db.models import ApiToken
from voxroute.errors import AuthError, Forbidden, NotFound

TOKEN_PREFIX = "vxr_"  # noqa: S105  (a visible prefix, not a secret)


class Role(StrEnum):
    """A token's role: platform admin (all orgs), or owner (writes) or member (reads) of one org."""

    PLATFORM_ADMIN = "platform_admin"
    OWNER = "owner"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token id, its role and (except for platform admins) its org."""

    token_id: str
    role: Role
    org_id: str | None

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}"

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"this action requires role {' or '.join(r.value for r in roles)}")

    def require_org(self) -> str:
        if self.org_id is None:
            raise Forbidden("this endpoint acts on an organization; use an organization token")
        return self.org_id


def expires_in(days: int | None) -> datetime | None:
    """The expiry of a token valid for `days` from now; None: it never expires."""
    return None if days is None else utcnow() + timedelta(days=days)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: the only form stored, so a database leak yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    session: AsyncSession,
    *,
    role: Role,
    org_id: str | None,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; the plain value is returned once and never stored."""
    if (role == Role.PLATFORM_ADMIN) != (org_id is None):
        raise ValueError("platform admin tokens have no org; org tokens need one")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        id=new_id("tok"),
        org_id=org_id,
        role=role.value,
        name=name,
        prefix=plain[:12],
        token_hash=hash_token(plain),
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row, plain


async def authenticate(session: AsyncSession, authorization: str | None) -> Principal:
    """Resolve `Authorization: Bearer <token>` to a principal, or raise AuthError."""
    if not authorization:
        raise AuthError("missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("expected 'Authorization: Bearer <token>'")
    row = await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token.strip()))
    )
    now = utcnow()
    # Read on every request, never cached: a revocation holds at once on every worker.
    if row is None or row.revoked_at is not None:
        raise AuthError("invalid or revoked token")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthError("token expired")
    # Throttled: one write per token per minute, not one per request.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        await session.execute(
            update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
        )
    return Principal(token_id=row.id, role=Role(row.role), org_id=row.org_id)


def tokens_query(*, org_id: str | None) -> Select[ApiToken]:
    """The org's tokens (platform-admin tokens for `None`), newest first."""
    return (
        select(ApiToken)
        .where(ApiToken.org_id.is_(None) if org_id is None else ApiToken.org_id == org_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    )


async def list_tokens(session: AsyncSession, *, org_id: str | None) -> list[ApiToken]:
    """Every token of the org (platform-admin tokens for `None`), newest first."""
    return list((await session.scalars(tokens_query(org_id=org_id))).all())


async def revoke_token(
    session: AsyncSession, *, token_id: str, org_id: str | None, actor: str
) -> ApiToken:
    """Revoke one token of the org (a platform-admin token for `None`); idempotent.

    Another org's token id answers `NotFound`, exactly like an unknown one.
    """
    row = await session.scalar(
        select(ApiToken).where(
            ApiToken.id == token_id,
            ApiToken.org_id.is_(None) if org_id is None else ApiToken.org_id == org_id,
        )
    )
    if row is None:
        raise NotFound("token not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
        record(
            session,
            action=AuditAction.TOKEN_REVOKED,
            org_id=row.org_id,
            actor=actor,
            target_type="token",
            target_id=row.id,
            data={"role": row.role},
        )
    return row
