"""Pieces shared by several schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Request bodies: unknown fields are errors, so a typo never silently drops a value;
    strict types, so `"100"` is no amount and `1` no boolean (the wire is JSON: numbers,
    booleans and strings are told apart there)."""

    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=20_000)


class OutModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
