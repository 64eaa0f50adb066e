"""Single-use call tokens: random, stored only as a SHA-256 hash, consumed atomically once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.db.base import utcnow
from voxroute.db.models import Call
from voxroute.errors import CallTokenInvalid

__all__ = ["consume_call_token", "hash_token", "issue_call_token"]

MAX_TOKEN_CHARS = 128
_NOW = bindparam("now", type_=Call.call_token_used_at.type)
# RETURNING: the claim and the call's row in one statement (SQLite ≥ 3.35, PostgreSQL).
# Built once, as every statement on the call set-up path.
_CLAIM = (
    update(Call)
    .where(
        Call.call_token_hash == bindparam("digest"),
        Call.call_token_used_at.is_(None),
        Call.call_token_expires_at > _NOW,
        Call.status == "ringing",
    )
    .values(call_token_used_at=_NOW)
    .returning(Call)
    .execution_options(synchronize_session=False)
)


def hash_token(token: str) -> str:
    """The SHA-256 hex of a call token; only the hash is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_call_token(call: Call, ttl_s: int, *, now: datetime | None = None) -> str:
    """Set a fresh token on `call` (hash + expiry) and return the plain token for TwiML."""
    token = secrets.token_urlsafe(32)
    call.call_token_hash = hash_token(token)
    call.call_token_expires_at = (now or utcnow()) + timedelta(seconds=ttl_s)
    call.call_token_used_at = None
    return token


async def consume_call_token(
    session: AsyncSession, token: object, *, now: datetime | None = None
) -> Call:
    """Mark the token used and return its call, or raise CallTokenInvalid.

    One conditional UPDATE decides: of two concurrent streams presenting the same token,
    exactly one sees rowcount 1.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise CallTokenInvalid()
    params = {"digest": hash_token(token), "now": now or utcnow()}
    calls = (await session.scalars(_CLAIM, params)).all()
    if len(calls) != 1:
        raise CallTokenInvalid()
    return calls[0]
