"""Assistant schemas. Stage configs accept `byo_api_keys` on the way in; reads show hints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from voxroute.api.schemas.common import OutModel, StrictModel

Policy = Literal["strict", "fallback_to_managed"]


class StageConfigIn(BaseModel):
    """`provider`, `model`, `voice_id`, `language`, … plus optional `byo_api_keys`."""

    model_config = ConfigDict(extra="allow")

    provider: str = Field(min_length=1, max_length=32)
    model: str | None = Field(default=None, max_length=100)
    voice_id: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=20)
    byo_api_keys: dict[str, dict[str, JsonValue]] | None = Field(
        default=None, description="provider → fields; null or {} reverts to org/managed keys"
    )


class AssistantCreate(StrictModel):
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
    name: str | None = Field(default=None, min_length=1, max_length=200)
    system_prompt: str | None = Field(default=None, max_length=20_000)
    first_message: str | None = Field(default=None, max_length=2_000)
    failure_policy: Policy | None = None
    max_duration_s: int | None = Field(default=None, ge=10, le=4 * 3600)
    idle_timeout_s: int | None = Field(default=None, ge=5, le=3600)
    stt_config: StageConfigIn | None = None
    llm_config: StageConfigIn | None = None
    tts_config: StageConfigIn | None = None


class AssistantPublic(OutModel):
    id: str
    name: str
    system_prompt: str
    first_message: str
    failure_policy: str | None
    max_duration_s: int
    idle_timeout_s: int
    stt_config: dict[str, Any]
    llm_config: dict[str, Any]
    tts_config: dict[str, Any]
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
