"""Pieces shared by several schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Request bodies: unknown fields are errors, so a typo never silently drops a value."""

    model_config = ConfigDict(extra="forbid", str_max_length=20_000)


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
