"""The charging rules of a node: list prices, the platform fee, the minimum to start a call.

Built once at start-up (`BillingPolicy.from_settings`) and passed in explicitly, so billing
never reads settings or the price file behind the caller's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from voxroute.billing.pricing import PriceBook, load_pricing
from voxroute.errors import InvalidInput
from voxroute.settings import Settings

__all__ = ["BillingPolicy"]

MS_PER_MINUTE = 60_000


@dataclass(frozen=True, slots=True)
class BillingPolicy:
    """Prices plus fees; `hold_ttl` is how long a hold lives without an extension."""

    pricing: PriceBook
    platform_fee_per_minute_micros: int
    min_call_balance_micros: int
    hold_ttl: timedelta = timedelta(minutes=2)

    def __post_init__(self) -> None:
        if self.platform_fee_per_minute_micros < 0 or self.min_call_balance_micros < 0:
            raise InvalidInput("billing policy amounts must not be negative")
        if self.hold_ttl <= timedelta(0):
            raise InvalidInput("hold_ttl must be positive")

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        pricing_path: Path | None = None,
        hold_ttl: timedelta | None = None,
    ) -> BillingPolicy:
        return cls(
            pricing=load_pricing(pricing_path),
            platform_fee_per_minute_micros=settings.platform_fee_per_minute_micros,
            min_call_balance_micros=settings.min_call_balance_micros,
            hold_ttl=hold_ttl or timedelta(minutes=2),
        )

    def platform_fee(self, connected_ms: int) -> tuple[int, int]:
        """(started minutes, fee): every started minute of connected time costs the fee."""
        minutes = -(-connected_ms // MS_PER_MINUTE)
        return minutes, minutes * self.platform_fee_per_minute_micros
