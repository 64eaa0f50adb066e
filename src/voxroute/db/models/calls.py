"""Calls: telephony identity, lifecycle, the key-resolution trace and latency figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxroute.db.base import Base, UTCDateTime, utcnow


class Call(Base):
    """One phone call from ringing to its end, with the keys it resolved and its latencies."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("telephony_provider", "provider_call_id"),
        Index("ix_calls_org_started", "org_id", "started_at"),
        Index("ix_calls_node_status", "node_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    assistant_id: Mapped[str | None] = mapped_column(String(40))
    phone_number_id: Mapped[str | None] = mapped_column(String(40))
    telephony_provider: Mapped[str] = mapped_column(String(32), default="twilio")
    provider_call_id: Mapped[str] = mapped_column(String(64))
    from_number: Mapped[str] = mapped_column(String(32), default="")
    to_number: Mapped[str] = mapped_column(String(32), default="")
    # ringing -> connected -> ending -> ended (see calls/state.py)
    status: Mapped[str] = mapped_column(String(16), default="ringing")
    end_reason: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 of the single-use token handed to Twilio in TwiML.
    call_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    call_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    call_token_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    node_id: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    latency: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
