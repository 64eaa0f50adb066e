"""Phone number schemas: the telephony auth token goes in and is never returned."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from voxroute.api.schemas.common import OutModel, StrictModel

E164 = r"^\+[1-9][0-9]{6,14}$"


class TelephonyIn(StrictModel):
    provider: Literal["twilio"] = "twilio"
    account_sid: str = Field(pattern=r"^AC[0-9A-Za-z]{6,64}$")
    auth_token: str = Field(min_length=8, max_length=256)


class PhoneNumberCreate(StrictModel):
    number: str = Field(pattern=E164)
    assistant_id: str | None = Field(default=None, max_length=40)
    telephony: TelephonyIn


class PhoneNumberUpdate(StrictModel):
    assistant_id: str | None = Field(default=None, max_length=40)
    telephony: TelephonyIn | None = None


class PhoneNumberPublic(OutModel):
    id: str
    number: str
    assistant_id: str | None
    telephony_provider: str
    account_sid: str
    auth_token_hint: str | None
    created_at: datetime
    updated_at: datetime
