"""Organizations and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from voxroute.db.base import Base, UTCDateTime, utcnow


class Organization(Base):
    """A tenant: its BYOK switches, failure policy and concurrent-call cap."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Set by the platform admin: may this org bring its own keys at all?
    byok_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by the org owner: use my keys (only effective when byok_enabled).
    use_own_keys: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_policy: Mapped[str] = mapped_column(String(32), default="strict")
    max_concurrent_calls: Mapped[int] = mapped_column(default=50)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token, stored as a SHA-256 hash; only its prefix is ever shown again."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Null for platform-admin tokens, which act across organizations.
    org_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Optional: a token past it fails like a revoked one.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
