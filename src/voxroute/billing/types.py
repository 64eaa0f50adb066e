"""Value objects shared by pricing, metering, the ledger and reservations.

Money is always an `int` of micro-USD (1 USD = 1_000_000). Quantities are integers in each
unit's base (see `UNIT_STAGE`); there is no float anywhere in billing. The usage event and its
vocabulary live in `voxroute.usage` (shared with the call side) and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voxroute.usage import (
    BILLED_SOURCES,
    KEY_SOURCES,
    UNIT_STAGE,
    KeySource,
    MeteredStage,
    Unit,
    UsageEvent,
)

__all__ = [
    "BILLED_SOURCES",
    "KEY_SOURCES",
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


def format_usd(micros: int, *, symbol: bool = True) -> str:
    """`-1_500_000` -> `-$1.500000`: integer formatting, so no float rounding ever shows."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    return f"{sign}{'$' if symbol else ''}{whole}.{frac:06d}"


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
