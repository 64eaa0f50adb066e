"""Organization, token and audit schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from voxroute.api.schemas.common import OutModel, StrictModel
from voxroute.db.models import ApiToken


class OrgCreate(StrictModel):
    """A new organization (platform admins only)."""

    name: str = Field(min_length=1, max_length=200)
    byok_enabled: bool = False


class OrgPublic(OutModel):
    """An organization as the API shows it."""

    id: str
    name: str
    byok_enabled: bool
    use_own_keys: bool
    failure_policy: str
    max_concurrent_calls: int
    created_at: datetime


class OrgCreated(StrictModel):
    """A new organization with its owner's API token, shown only this once."""

    org_id: str
    org: OrgPublic
    token: str = Field(description="the owner's API token; shown once")


class ByokToggle(StrictModel):
    """Whether an org may bring its own provider keys."""

    enabled: bool


class OrgSettingsUpdate(StrictModel):
    """An org's choice of own keys and what to do when one fails."""

    use_own_keys: bool | None = None
    failure_policy: Literal["strict", "fallback_to_managed"] | None = None


class TokenCreate(StrictModel):
    """A new API token for the org: role, name and optional lifetime."""

    role: Literal["owner", "member"] = "member"
    name: str = Field(default="", max_length=200)
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        strict=True,
        description="the token stops working after this; none: never",
    )


class TokenCreated(StrictModel):
    """A new API token, shown only this once, with what identifies it later."""

    id: str
    role: str
    prefix: str
    expires_at: datetime | None
    token: str = Field(description="shown once")

    @classmethod
    def of(cls, row: ApiToken, token: str) -> TokenCreated:
        return cls(
            id=row.id, role=row.role, prefix=row.prefix, expires_at=row.expires_at, token=token
        )


class TokenPublic(OutModel):
    """A token as listed: never its value, only the prefix it starts with."""

    id: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class AuditEventPublic(OutModel):
    """One audit log entry: who did what to which object, and when."""

    id: str
    org_id: str | None
    action: str
    actor: str
    target_type: str
    target_id: str
    data: dict[str, Any]
    created_at: datetime
