"""Value objects shared by pricing, metering, the ledger and reservations.

Money is always an `int` of micro-USD (1 USD = 1_000_000). Quantities are integers in each
unit's base (see `UNIT_STAGE`); there is no float anywhere in billing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from voxroute.db.base import utcnow
from voxroute.errors import InvalidInput

__all__ = [
    "BILLED_SOURCES",
    "MICROS_PER_USD",
    "UNIT_STAGE",
    "Balance",
    "KeySource",
    "MeteredStage",
    "Unit",
    "UsageEvent",
    "format_usd",
]

MICROS_PER_USD = 1_000_000
MeteredStage = Literal["stt", "llm", "tts", "transport"]
# Same values as `voxroute.routing.types.KeySource`; repeated so billing does not import the
# routing package (and its vault dependencies) just for a type.
KeySource = Literal["assistant", "organization", "managed", "managed_fallback"]
Unit = Literal[
    "stt_seconds",  # quantity: milliseconds of audio sent to the recognizer
    "llm_input_tokens",  # quantity: uncached prompt tokens
    "llm_output_tokens",  # quantity: completion tokens
    "llm_cached_tokens",  # quantity: prompt tokens served from the provider's cache
    "tts_characters",  # quantity: characters synthesized
    "transport_seconds",  # quantity: milliseconds of connected call (also the fee's clock)
]
UNIT_STAGE: dict[str, MeteredStage] = {
    "stt_seconds": "stt",
    "llm_input_tokens": "llm",
    "llm_output_tokens": "llm",
    "llm_cached_tokens": "llm",
    "tts_characters": "tts",
    "transport_seconds": "transport",
}
KEY_SOURCES: frozenset[str] = frozenset(
    {"assistant", "organization", "managed", "managed_fallback"}
)
# Provider cost is billed to the org only when the platform's own key served the stage.
BILLED_SOURCES: frozenset[str] = frozenset({"managed", "managed_fallback"})


def format_usd(micros: int, *, symbol: bool = True) -> str:
    """`-1_500_000` -> `-$1.500000`: integer formatting, so no float rounding ever shows."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    return f"{sign}{'$' if symbol else ''}{whole}.{frac:06d}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One incremental usage delta of one stage of one call (raw usage, not cost).

    `seq` numbers the events of a call per (stage, unit); together they are the row's
    idempotency key, so a batch replayed after a timeout is stored once.
    """

    org_id: str
    call_id: str
    stage: MeteredStage
    provider: str
    model: str
    key_source: KeySource
    unit: Unit
    quantity: int
    seq: int
    credential_id: str | None = None
    occurred_at: datetime = field(default_factory=utcnow)

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


@dataclass(frozen=True, slots=True)
class Balance:
    """An org's credit; `available` (balance - reserved - floor) is what can be spent or held."""

    org_id: str
    balance_micros: int
    reserved_micros: int
    floor_micros: int
    available_micros: int = field(init=False)
    unit: str = "usd_micros"

    def __post_init__(self) -> None:
        # A field, not a property, so asdict()/JSON responses carry it.
        available = self.balance_micros - self.reserved_micros - self.floor_micros
        object.__setattr__(self, "available_micros", available)
