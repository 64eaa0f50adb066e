"""Assistants and the phone numbers that route to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, ForeignKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxroute.db.base import Base, UTCDateTime, utcnow


class Assistant(Base):
    """A voice bot of an org: its prompts, limits and one provider config per stage."""

    __tablename__ = "assistants"
    __table_args__ = (UniqueConstraint("org_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    first_message: Mapped[str] = mapped_column(Text, default="")
    # Null means "inherit the organization's policy".
    failure_policy: Mapped[str | None] = mapped_column(String(32))
    max_duration_s: Mapped[int] = mapped_column(default=600)
    idle_timeout_s: Mapped[int] = mapped_column(default=30)
    # Stage configs without secrets: {"provider", "model", "voice_id", "language", ...}.
    stt_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    llm_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tts_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PhoneNumber(Base):
    """A number owned by one org; its telephony auth token lives in the vault as a credential."""

    __tablename__ = "phone_numbers"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        ForeignKeyConstraint(
            ["org_id", "assistant_id"],
            ["assistants.org_id", "assistants.id"],
            ondelete="RESTRICT",
        ),
        ForeignKeyConstraint(
            ["org_id", "credential_id"],
            ["credentials.org_id", "credentials.id"],
            ondelete="RESTRICT",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # E.164; globally unique because a real number belongs to exactly one tenant.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    assistant_id: Mapped[str | None] = mapped_column(String(40))
    telephony_provider: Mapped[str] = mapped_column(String(32), default="twilio")
    account_sid: Mapped[str] = mapped_column(String(64), default="")
    credential_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
