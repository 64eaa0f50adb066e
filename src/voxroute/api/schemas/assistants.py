"""Assistant schemas. Stage configs accept `byo_api_keys` on the way in; reads show hints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, JsonValue, model_validator
from pydantic.json_schema import SkipJsonSchema

from voxroute.api.schemas.common import OutModel, ProviderId, StrictModel
from voxroute.api.schemas.responses import StageConfigPublic
from voxroute.providers.catalog import load_catalog

_CATALOG = load_catalog()

Policy = Literal["strict", "fallback_to_managed"]


class StageConfigIn(StrictModel):
    """`provider`, `model`, `voice_id`, `language` and optional `byo_api_keys`; nothing else.

    Unknown fields are refused: a key put in the wrong field would otherwise be stored in
    plaintext and shown to every member. Formats come from the catalog (checked on save).
    """

    provider: ProviderId
    model: str | None = Field(default=None, min_length=1, max_length=100)
    voice_id: str | None = Field(default=None, min_length=1, max_length=100)
    language: str | None = Field(default=None, pattern=_CATALOG.formats.language)
    byo_api_keys: dict[str, dict[str, str]] | None = Field(
        default=None,
        max_length=4,
        description="provider → fields; null or {} reverts to org/managed keys",
    )


class AssistantCreate(StrictModel):
    """A new assistant: prompts, limits and the provider config of each stage."""

    name: str = Field(min_length=1, max_length=200)
    system_prompt: str = Field(default="", max_length=20_000)
    first_message: str = Field(default="", max_length=2_000)
    failure_policy: Policy | None = None
    max_duration_s: int = Field(default=600, ge=10, le=4 * 3600)
    idle_timeout_s: int = Field(default=30, ge=5, le=3600)
    stt_config: StageConfigIn
    llm_config: StageConfigIn
    tts_config: StageConfigIn


class AssistantUpdate(StrictModel):
    """Changes to an assistant: only the fields sent change.

    Omit a field to keep it: an explicit null is refused (these columns always hold a value),
    except `failure_policy: null` (use the org's).
    """

    # `SkipJsonSchema[None]`: None is only the "not sent" default; `null` on the wire is
    # refused below and the schema does not offer it.
    name: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    system_prompt: Annotated[str, Field(max_length=20_000)] | SkipJsonSchema[None] = None
    first_message: Annotated[str, Field(max_length=2_000)] | SkipJsonSchema[None] = None
    failure_policy: Policy | None = None
    max_duration_s: Annotated[int, Field(ge=10, le=4 * 3600)] | SkipJsonSchema[None] = None
    idle_timeout_s: Annotated[int, Field(ge=5, le=3600)] | SkipJsonSchema[None] = None
    stt_config: StageConfigIn | SkipJsonSchema[None] = None
    llm_config: StageConfigIn | SkipJsonSchema[None] = None
    tts_config: StageConfigIn | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_explicit_null(self) -> AssistantUpdate:
        for name in self.model_fields_set - {"failure_policy"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; omit it to keep the current value")
        return self


class AssistantPublic(OutModel):
    """An assistant as the API shows it; its own keys appear only as hints."""

    id: str
    name: str
    system_prompt: str
    first_message: str
    failure_policy: str | None
    max_duration_s: int
    idle_timeout_s: int
    stt_config: StageConfigPublic
    llm_config: StageConfigPublic
    tts_config: StageConfigPublic
    created_at: datetime
    updated_at: datetime


class AssistantExport(BaseModel):
    """A portable assistant definition. It never carries keys or key hints."""

    format: Literal["voxroute.assistant/v1"] = "voxroute.assistant/v1"
    name: str
    system_prompt: str
    first_message: str
    failure_policy: Policy | None
    max_duration_s: int
    idle_timeout_s: int
    stt_config: dict[str, JsonValue]
    llm_config: dict[str, JsonValue]
    tts_config: dict[str, JsonValue]
