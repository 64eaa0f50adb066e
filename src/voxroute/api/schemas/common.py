"""Pieces shared by several schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from voxroute.providers.catalog import load_catalog

_CATALOG = load_catalog()
PROVIDER_IDS: list[JsonValue] = list(_CATALOG.ids)


def _known_provider(value: str) -> str:
    if value not in _CATALOG:
        raise ValueError("unknown provider (GET /byok/config lists them)")
    return value


# A provider id of the catalog: an enum in the spec, and refused by name when unknown.
ProviderId = Annotated[
    str,
    Field(min_length=1, max_length=32, json_schema_extra={"enum": PROVIDER_IDS}),
    AfterValidator(_known_provider),
]


class StrictModel(BaseModel):
    """Base of request bodies: unknown fields are errors and types are strict.

    Unknown fields are errors, so a typo never silently drops a value; strict types, so
    `"100"` is no amount and `1` no boolean (the wire is JSON: numbers, booleans and strings
    are told apart there).
    """

    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=20_000)


class OutModel(BaseModel):
    """Base of response models read straight from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
