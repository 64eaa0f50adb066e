"""Provider credentials (metadata) and their sealed secret fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from voxroute.db.base import Base, UTCDateTime, utcnow


class Credential(Base):
    """One key of a provider at one scope; several per provider and scope form a key pool."""

    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        ForeignKeyConstraint(
            ["org_id", "assistant_id"],
            ["assistants.org_id", "assistants.id"],
            ondelete="CASCADE",
        ),
        Index("ix_credentials_lookup", "org_id", "scope", "provider", "assistant_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # "organization" | "assistant" | "telephony"
    scope: Mapped[str] = mapped_column(String(16))
    assistant_id: Mapped[str | None] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(100), default="default")
    priority: Mapped[int] = mapped_column(default=0)
    # a `credentials.status.CredentialStatus` value; only `CredentialStore` writes it
    status: Mapped[str] = mapped_column(String(16), default="active")
    public_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    hint: Mapped[str | None] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    validation_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cooldown_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CredentialSecret(Base):
    """One secret field of one credential version, sealed by the vault (envelope blob)."""

    __tablename__ = "credential_secrets"
    __table_args__ = (
        UniqueConstraint("credential_id", "field"),
        ForeignKeyConstraint(
            ["org_id", "credential_id"],
            ["credentials.org_id", "credentials.id"],
            ondelete="CASCADE",
        ),
        Index("ix_credential_secrets_master", "master_key_id", "master_key_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(40))
    credential_id: Mapped[str] = mapped_column(String(40))
    credential_version: Mapped[int] = mapped_column()
    field: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(200))
    master_key_version: Mapped[int] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
