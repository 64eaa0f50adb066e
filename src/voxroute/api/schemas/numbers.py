"""Phone number schemas: the telephony auth token goes in and is never returned."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from voxroute.api.schemas.common import OutModel, StrictModel
from voxroute.providers.catalog import load_catalog

# The carrier's documented shapes, from the catalog (config/providers.toml).
_TWILIO = load_catalog().carrier("twilio")
E164 = _TWILIO.number_pattern
ASSISTANT_ID = r"^asst_[0-9a-f]{24}$"


class TelephonyIn(StrictModel):
    """The carrier account that owns a number; the auth token is write-only."""

    provider: Literal["twilio"] = "twilio"
    account_sid: str = Field(pattern=_TWILIO.account_pattern, description="AC + 32 hex digits")
    auth_token: str = Field(
        pattern=_TWILIO.field("auth_token").pattern, description="32 hex digits; write-only"
    )


class PhoneNumberCreate(StrictModel):
    """A number to answer, the assistant that answers it and its carrier account."""

    number: str = Field(pattern=E164)
    assistant_id: str | None = Field(default=None, pattern=ASSISTANT_ID)
    telephony: TelephonyIn


class PhoneNumberUpdate(StrictModel):
    """A number's new assistant or carrier account."""

    assistant_id: str | None = Field(default=None, pattern=ASSISTANT_ID)
    telephony: TelephonyIn | None = None


class PhoneNumberPublic(OutModel):
    """A phone number as the API shows it; the auth token only as a hint."""

    id: str
    number: str
    assistant_id: str | None
    telephony_provider: str
    account_sid: str
    auth_token_hint: str | None
    created_at: datetime
    updated_at: datetime
