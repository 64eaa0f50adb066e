"""Append-only audit trail; rows never contain secret material."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from voxroute.db.base import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    """One row of the audit trail; `data` holds ids and statuses, never secret values."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_time", "org_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Null for platform-level events (e.g. master key rotated).
    org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64), default="system")
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
