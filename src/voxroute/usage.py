"""What a call used: the one usage event type, its units and key sources.

Dependency-free (standard library and the exception tree only), so the call side that
measures usage and the billing side that prices it share one type without importing each
other. Quantities are integers in each unit's base, named in the unit: `stt_ms` and
`transport_ms` are milliseconds. Never a float, never a price (billing prices events later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

from voxroute.errors import InvalidInput

__all__ = [
    "BILLED_SOURCES",
    "KEY_SOURCES",
    "UNIT_STAGE",
    "KeySource",
    "MeteredStage",
    "Unit",
    "UsageEvent",
]

# Whose key served a stage (DESIGN §2).
KeySource = Literal["assistant", "organization", "managed", "managed_fallback"]
KEY_SOURCES: frozenset[str] = frozenset(get_args(KeySource))
# Provider cost is billed to the org only when the platform's own key served the stage.
BILLED_SOURCES: frozenset[str] = frozenset({"managed", "managed_fallback"})
MeteredStage = Literal["stt", "llm", "tts", "transport"]
Unit = Literal[
    "stt_ms",  # milliseconds of audio sent to the recognizer
    "llm_input_tokens",  # uncached prompt tokens
    "llm_output_tokens",  # completion tokens
    "llm_cached_tokens",  # prompt tokens served from the provider's cache
    "tts_characters",  # characters synthesized
    "transport_ms",  # milliseconds of connected call (also the platform fee's clock)
]
UNIT_STAGE: dict[str, MeteredStage] = {
    "stt_ms": "stt",
    "llm_input_tokens": "llm",
    "llm_output_tokens": "llm",
    "llm_cached_tokens": "llm",
    "tts_characters": "tts",
    "transport_ms": "transport",
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One incremental usage delta of one stage of one call (raw usage, not cost).

    `seq` numbers the events of a call per (stage, unit) and is given by billing when it
    accepts the event; with (call, stage, unit) it is the stored row's idempotency key, so a
    batch replayed after a timeout is stored once.
    """

    org_id: str
    call_id: str
    stage: MeteredStage
    provider: str
    model: str
    key_source: KeySource
    unit: Unit
    quantity: int
    seq: int = 0
    credential_id: str | None = None
    occurred_at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if UNIT_STAGE.get(self.unit) != self.stage:
            raise InvalidInput(f"unit {self.unit!r} does not belong to stage {self.stage!r}")
        if self.key_source not in KEY_SOURCES:
            raise InvalidInput(f"unknown key source {self.key_source!r}")
        if not _is_int(self.quantity) or self.quantity < 0:
            raise InvalidInput("usage quantity must be a non-negative integer")
        if not _is_int(self.seq) or self.seq < 0:
            raise InvalidInput("usage seq must be a non-negative integer")
        if self.occurred_at.tzinfo is None:
            raise InvalidInput("usage occurred_at must be timezone-aware")

    @property
    def billed(self) -> bool:
        return self.key_source in BILLED_SOURCES
