"""Credential schemas: secrets go in, only hints come out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from voxroute.api.schemas.common import OutModel, ProviderId, StrictModel


class ByokKeyIn(BaseModel):
    """`provider` plus its credential fields (`api_key`; Azure adds `region`; Inworld takes
    `bearer_token` or `api_key`, and `workspace_id`). The fields are checked against the
    catalog's formats: unknown ones are refused by name, and no value is ever echoed."""

    model_config = ConfigDict(extra="allow", strict=True)

    provider: ProviderId


class ByokDelete(StrictModel):
    provider: ProviderId


class CredentialCreate(StrictModel):
    provider: ProviderId
    fields: dict[str, JsonValue] = Field(description="e.g. {'api_key': '...'}; Azure adds 'region'")
    label: str = Field(default="default", min_length=1, max_length=100)
    priority: int = Field(default=0, ge=-1000, le=1000)


class CredentialReplace(StrictModel):
    fields: dict[str, JsonValue]


class CredentialUpdate(StrictModel):
    label: str | None = Field(default=None, min_length=1, max_length=100)
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    status: Literal["active", "disabled"] | None = None


class CredentialPublic(OutModel):
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
    provider: ProviderId | None = None


class CheckResultOut(OutModel):
    credential_id: str
    provider: str
    label: str
    status: str
    message: str
