"""Credential schemas: secrets go in, only hints come out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from voxroute.api.schemas.common import OutModel, ProviderId, StrictModel


class ByokKeyIn(BaseModel):
    """`provider` plus its credential fields, checked against the catalog's formats.

    The fields: `api_key`; Azure adds `region`; Inworld takes `bearer_token` or `api_key`, and
    `workspace_id`. Unknown ones are refused by name, and no value is ever echoed.
    """

    model_config = ConfigDict(extra="allow", strict=True)

    provider: ProviderId


class ByokDelete(StrictModel):
    """The provider whose org keys to remove."""

    provider: ProviderId


class CredentialCreate(StrictModel):
    """A new provider key for the org: its secret fields, label and priority."""

    provider: ProviderId
    fields: dict[str, JsonValue] = Field(description="e.g. {'api_key': '...'}; Azure adds 'region'")
    label: str = Field(default="default", min_length=1, max_length=100)
    priority: int = Field(default=0, ge=-1000, le=1000)


class CredentialReplace(StrictModel):
    """New secret fields for an existing key (rotation); label and priority stay."""

    fields: dict[str, JsonValue]


class CredentialUpdate(StrictModel):
    """A key's label, priority or status; the secret itself is never changed here."""

    label: str | None = Field(default=None, min_length=1, max_length=100)
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    status: Literal["active", "disabled"] | None = None


class CredentialPublic(OutModel):
    """A stored key as the API shows it: metadata and a hint, never the secret."""

    id: str
    provider: str
    scope: str
    assistant_id: str | None
    label: str
    priority: int
    status: str
    hint: str | None
    public_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    last_validated_at: datetime | None
    validation_status: str | None
    last_error: str | None
    last_used_at: datetime | None
    cooldown_until: datetime | None


class CheckRequest(StrictModel):
    """Which provider's keys to probe (every provider's when omitted)."""

    provider: ProviderId | None = None


class CheckResultOut(OutModel):
    """One key's check result: its status and a message saying why."""

    credential_id: str
    provider: str
    label: str
    status: str
    message: str
