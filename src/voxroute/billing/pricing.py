"""List prices (the packaged `config/pricing.toml`) and the pure function that prices usage.

Prices are integers of micro-USD per *block* of a unit (1000 seconds, 1M tokens, 1M
characters, one minute), so sub-micro per-unit prices stay exact. The cost of one usage row is
`ceil(quantity * price / block)` in integer arithmetic: it never under-charges and adds at most
one micro per row, and the sum of stored row costs is exactly what a call is charged.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from voxroute.billing.types import UsageEvent
from voxroute.errors import ConfigError
from voxroute.package_data import package_path

__all__ = [
    "DEFAULT_PRICING_PATH",
    "PRICE_KEYS",
    "PriceBook",
    "PricedUsage",
    "PricingError",
    "load_pricing",
    "price",
]

DEFAULT_PRICING_PATH = package_path("voxroute", "config", "pricing.toml")
DEFAULT_MODEL = "default"

# unit -> (pricing.toml key, block: the quantity the price is for, in the unit's base).
PRICE_KEYS: dict[str, tuple[str, int]] = {
    "stt_ms": ("stt_per_1k_seconds", 1_000_000),  # ms
    "llm_input_tokens": ("llm_input_per_1m_tokens", 1_000_000),
    "llm_output_tokens": ("llm_output_per_1m_tokens", 1_000_000),
    "llm_cached_tokens": ("llm_cached_per_1m_tokens", 1_000_000),
    "tts_characters": ("tts_per_1m_characters", 1_000_000),
    "transport_ms": ("transport_per_minute", 60_000),  # ms
}
_KEY_UNITS = {key: unit for unit, (key, _block) in PRICE_KEYS.items()}
_ENTRY_FIELDS = {"provider", "model", "effective_from", *_KEY_UNITS}


class PricingError(ConfigError):
    """The price list is malformed, or has no price for a provider/model/unit."""

    code = "pricing_error"


@dataclass(frozen=True, slots=True)
class _Entry:
    effective_from: date
    prices: Mapping[str, int]  # unit -> micros per block


@dataclass(frozen=True, slots=True)
class PricedUsage:
    """Costs of priced usage, row by row in input order, and their totals."""

    costs: tuple[int, ...]
    cost_micros: int
    billed_micros: int


class PriceBook:
    """Validated, immutable list prices; look-ups are by provider, model, unit and time."""

    def __init__(self, entries: Mapping[tuple[str, str], list[_Entry]]) -> None:
        # Newest first, so the first entry not after `at` is the effective one.
        self._entries = {
            key: sorted(items, key=lambda e: e.effective_from, reverse=True)
            for key, items in entries.items()
        }

    @classmethod
    def from_toml(cls, text: str, *, source: str = "pricing.toml") -> PriceBook:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PricingError(f"{source}: not valid TOML: {exc}") from exc
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "pricing") -> PriceBook:
        rows = data.get("price")
        if set(data) - {"price"} or not isinstance(rows, list) or not rows:
            raise PricingError(f"{source}: expected only a non-empty list of [[price]] tables")
        entries: dict[tuple[str, str], list[_Entry]] = {}
        for index, row in enumerate(rows, start=1):
            where = f"{source}: [[price]] #{index}"
            provider, model, entry = _parse_entry(row, where)
            same = entries.setdefault((provider, model), [])
            if any(e.effective_from == entry.effective_from for e in same):
                raise PricingError(
                    f"{where}: duplicate {provider}/{model} at {entry.effective_from}"
                )
            same.append(entry)
        for provider in {p for p, _m in entries}:
            if (provider, DEFAULT_MODEL) not in entries:
                raise PricingError(f"{source}: provider {provider!r} has no 'default' model")
        return cls(entries)

    @property
    def providers(self) -> frozenset[str]:
        return frozenset(p for p, _m in self._entries)

    def unit_price(self, provider: str, model: str, unit: str, at: datetime) -> tuple[int, int]:
        """(micros per block, block) effective at `at` for the model, else the provider default."""
        if unit not in PRICE_KEYS:
            raise PricingError(f"unknown unit {unit!r}")
        day = at.astimezone(UTC).date()
        for candidate in (model, DEFAULT_MODEL):
            for entry in self._entries.get((provider, candidate), ()):
                if entry.effective_from <= day:
                    if unit not in entry.prices:
                        raise PricingError(f"no {unit} price for {provider}/{candidate} at {day}")
                    return entry.prices[unit], PRICE_KEYS[unit][1]
        raise PricingError(f"no price for {provider}/{model} ({unit}) effective at {day}")

    def cost(self, provider: str, model: str, unit: str, quantity: int, at: datetime) -> int:
        """List-price cost of `quantity` (rounded up to a whole micro; see the module doc)."""
        micros_per_block, block = self.unit_price(provider, model, unit, at)
        return -(-quantity * micros_per_block // block)


def _parse_entry(row: object, where: str) -> tuple[str, str, _Entry]:
    if not isinstance(row, dict):
        raise PricingError(f"{where}: must be a table")
    unknown = set(row) - _ENTRY_FIELDS
    if unknown:
        raise PricingError(f"{where}: unknown keys {sorted(unknown)}")
    provider, model = row.get("provider"), row.get("model")
    if not isinstance(provider, str) or not provider or not isinstance(model, str) or not model:
        raise PricingError(f"{where}: 'provider' and 'model' must be non-empty strings")
    since = row.get("effective_from")
    if not isinstance(since, date) or isinstance(since, datetime):
        raise PricingError(f"{where}: 'effective_from' must be a date like 2025-01-01")
    prices: dict[str, int] = {}
    for key, unit in _KEY_UNITS.items():
        if key not in row:
            continue
        value = row[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PricingError(
                f"{where}: {key} must be a non-negative integer of micro-USD, got {value!r}"
            )
        prices[unit] = value
    if not prices:
        raise PricingError(f"{where}: {provider}/{model} lists no price")
    return provider, model, _Entry(since, prices)


def load_pricing(path: Path | None = None) -> PriceBook:
    """Read and validate the price list; any problem is a `PricingError` naming the entry."""
    path = path or DEFAULT_PRICING_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricingError(f"cannot read price list {path}: {exc.strerror}") from exc
    return PriceBook.from_toml(text, source=str(path))


def price(book: PriceBook, events: Iterable[UsageEvent]) -> PricedUsage:
    """Price usage events at list price; `billed_micros` counts only managed-key stages."""
    costs: list[int] = []
    billed = 0
    for event in events:
        cost = book.cost(event.provider, event.model, event.unit, event.quantity, event.occurred_at)
        costs.append(cost)
        if event.billed:
            billed += cost
    return PricedUsage(costs=tuple(costs), cost_micros=sum(costs), billed_micros=billed)
