"""Response bodies that were free-form dicts: typed, so the OpenAPI spec says what comes back.

Billing types are the billing package's own dataclasses (pydantic reads them as they are).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, JsonValue

from voxroute.billing.ledger import Entry
from voxroute.billing.reports import UsageSummaryRow
from voxroute.providers.catalog import load_catalog

_PROVIDERS: list[JsonValue] = list(load_catalog().ids)


class ErrorDetail(BaseModel):
    """One validation problem: where in the request, and what is wrong."""

    loc: list[str]
    msg: str


class ErrorInfo(BaseModel):
    """An error's machine-readable code, message and any validation details."""

    code: str = Field(description="machine-readable, e.g. invalid_input, not_found")
    message: str
    details: list[ErrorDetail] | None = Field(default=None, description="validation errors")


class ErrorResponse(BaseModel):
    """The one error shape of every 4xx and 5xx answer of the API."""

    error: ErrorInfo


class ByokState(BaseModel):
    """An org's bring-your-own-key settings and its primary key per provider."""

    byok_keys: dict[str, str | None] = Field(
        description="`<provider>_secret_id` → the org's primary key id for it, or null"
    )
    byok_enabled: bool
    use_own_keys: bool


class ByokWriteResult(BaseModel):
    """The org's primary key per provider after a BYOK write."""

    success: Literal[True] = True
    byok_keys: dict[str, str | None]


class ProviderPublic(BaseModel):
    """A supported provider: its stages and the credential fields it needs."""

    id: str = Field(json_schema_extra={"enum": _PROVIDERS})
    name: str
    category: str
    categories: list[str]
    docs_url: str
    required_fields: list[str]
    public_fields: list[str]
    models: dict[str, list[str]]
    default_models: dict[str, str]
    voices: list[str]


class ByokConfig(BaseModel):
    """Every provider an org can bring its own key for."""

    providers: list[ProviderPublic]


class KeyView(BaseModel):
    """An assistant's own key for a provider: hint and status, never the key."""

    model_config = {"extra": "allow"}  # the provider's public fields (region, workspace_id)

    credential_id: str
    hint: str | None
    status: str
    version: int


class StageConfigPublic(BaseModel):
    """One stage's provider, model and voice, with its own keys as hints."""

    provider: str = Field(json_schema_extra={"enum": _PROVIDERS})
    model: str | None = None
    voice_id: str | None = None
    language: str | None = None
    byo_api_keys: dict[str, KeyView] = Field(default_factory=dict)


class BalanceOut(BaseModel):
    """An org's credit balance, reservations and what is left to spend."""

    balance: int = Field(description="micro-USD")
    reserved: int
    available: int
    unit: str


class TopupResult(BalanceOut):
    """The balance after a credit top-up, with the ledger entry it made."""

    entry: Entry


class UsageReport(BaseModel):
    """Usage totals over a period, grouped as asked."""

    start: datetime
    end: datetime
    group_by: Literal["provider", "assistant", "key_source", "day"]
    rows: list[UsageSummaryRow]


class HangupResult(BaseModel):
    """A hang-up request's outcome and the call's status after it."""

    id: str
    hung_up: bool
    status: str
