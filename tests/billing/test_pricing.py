"""The price list: validation, effective dates, defaults and the integer rounding rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from voxroute.billing import PriceBook, PricingError, UsageEvent, load_pricing, price
from voxroute.errors import InvalidInput

NOW = datetime(2026, 3, 2, tzinfo=UTC)
PROVIDERS = {"deepgram", "openai", "xai", "elevenlabs", "cartesia", "azure", "inworld", "resemble"}


@pytest.fixture(autouse=True)
def ledger_invariants() -> Iterator[None]:
    """Pure tests: no database, so the billing conftest's ledger check does not apply."""
    yield


def book(body: str) -> PriceBook:
    return PriceBook.from_toml(body, source="test.toml")


GOOD = """
[[price]]
provider = "acme"
model = "default"
effective_from = 2025-01-01
llm_input_per_1m_tokens = 1_000_000
"""


def test_the_shipped_price_list_covers_every_provider_with_a_default() -> None:
    prices = load_pricing()
    assert PROVIDERS | {"twilio"} <= prices.providers
    for provider in PROVIDERS:
        # Every provider prices unknown models through its default entry.
        assert any(
            _has_price(prices, provider, unit)
            for unit in ("stt_ms", "llm_input_tokens", "tts_characters")
        )


def _has_price(prices: PriceBook, provider: str, unit: str) -> bool:
    try:
        prices.unit_price(provider, "some-future-model", unit, NOW)
    except PricingError:
        return False
    return True


def test_the_price_effective_at_a_time_is_the_latest_entry_not_after_it() -> None:
    prices = load_pricing()
    summer_2024 = datetime(2024, 6, 1, tzinfo=UTC)
    assert prices.cost("openai", "gpt-4o", "llm_input_tokens", 1_000_000, summer_2024) == 5_000_000
    assert prices.cost("openai", "gpt-4o", "llm_input_tokens", 1_000_000, NOW) == 2_500_000


def test_an_unknown_model_is_priced_at_the_provider_default() -> None:
    prices = load_pricing()
    assert prices.cost("deepgram", "nova-99", "stt_ms", 60_000, NOW) == 7_700  # $0.0077/min


def test_costs_round_up_per_row_to_a_whole_micro() -> None:
    prices = load_pricing()
    # gpt-4o-mini input: 150_000 micros per 1M tokens -> 0.15 micro per token.
    assert prices.cost("openai", "gpt-4o-mini", "llm_input_tokens", 1, NOW) == 1
    assert prices.cost("openai", "gpt-4o-mini", "llm_input_tokens", 20, NOW) == 3
    assert prices.cost("openai", "gpt-4o-mini", "llm_input_tokens", 0, NOW) == 0
    # Twilio: 12_500 micros per minute, metered in milliseconds.
    assert prices.cost("twilio", "default", "transport_ms", 1, NOW) == 1
    assert prices.cost("twilio", "default", "transport_ms", 60_000, NOW) == 12_500


def test_price_is_a_pure_function_that_bills_only_managed_stages() -> None:
    prices = load_pricing()

    def llm(source: str, seq: int) -> UsageEvent:
        return UsageEvent(
            org_id="org",
            call_id="call",
            stage="llm",
            provider="openai",
            model="gpt-4o-mini",
            key_source=source,  # type: ignore[arg-type]
            unit="llm_output_tokens",
            quantity=1_000,
            seq=seq,
            occurred_at=NOW,
        )

    events = [
        llm("managed", 0),
        llm("managed_fallback", 1),
        llm("organization", 2),
        llm("assistant", 3),
    ]
    priced = price(prices, events)
    assert priced.costs == (600, 600, 600, 600)
    assert (priced.cost_micros, priced.billed_micros) == (2_400, 1_200)
    assert price(prices, events) == priced


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("", "list of \\[\\[price\\]\\]"),
        (GOOD.replace("1_000_000", "1.5"), "must be a non-negative integer"),
        (GOOD.replace("1_000_000", "-1"), "must be a non-negative integer"),
        (GOOD.replace("1_000_000", "true"), "must be a non-negative integer"),
        (GOOD.replace("1_000_000", '"1"'), "must be a non-negative integer"),
        (GOOD.replace('"default"', '"m1"'), "has no 'default' model"),
        (GOOD + GOOD, "duplicate acme/default"),
        (GOOD.replace("2025-01-01", '"2025-01-01"'), "effective_from"),
        (GOOD.replace("2025-01-01", "2025-01-01T00:00:00Z"), "effective_from"),
        (GOOD + "llm_tokens = 5\n", "unknown keys \\['llm_tokens'\\]"),
        (GOOD.replace("llm_input_per_1m_tokens = 1_000_000", ""), "lists no price"),
        (GOOD.replace('provider = "acme"', ""), "'provider' and 'model'"),
    ],
)
def test_a_bad_price_list_is_refused_with_a_message_naming_the_problem(
    body: str, message: str
) -> None:
    with pytest.raises(PricingError, match=message):
        book(body)


def test_a_missing_price_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="cannot read price list"):
        load_pricing(tmp_path / "missing.toml")


def test_asking_for_a_price_that_is_not_listed_is_a_pricing_error() -> None:
    prices = book(GOOD)
    with pytest.raises(PricingError, match="no price for other/x"):
        prices.cost("other", "x", "llm_input_tokens", 1, NOW)
    with pytest.raises(PricingError, match="no tts_characters price"):
        prices.cost("acme", "x", "tts_characters", 1, NOW)
    with pytest.raises(PricingError, match="effective at 2024-12-31"):
        prices.cost("acme", "x", "llm_input_tokens", 1, datetime(2024, 12, 31, tzinfo=UTC))


@pytest.mark.parametrize(
    "change",
    [{"unit": "tts_characters"}, {"quantity": -1}, {"quantity": True}, {"key_source": "mine"}],
)
def test_a_usage_event_refuses_inconsistent_fields(change: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "org_id": "org",
        "call_id": "call",
        "stage": "stt",
        "provider": "deepgram",
        "model": "nova-3",
        "key_source": "managed",
        "unit": "stt_ms",
        "quantity": 1,
        "seq": 0,
    }
    with pytest.raises(InvalidInput):
        UsageEvent(**(fields | change))  # type: ignore[arg-type]


def test_the_billing_package_exports_exactly_its_curated_api() -> None:
    import voxroute.billing as billing

    public = {name for name in dir(billing) if not name.startswith("_")}
    modules = {
        "ledger",
        "policy",
        "pricing",
        "reports",
        "reservations",
        "types",
        "usage",
        "metering",
    }
    assert set(billing.__all__) == public - modules
    core = {"topup", "debit", "balance", "entries", "reserve", "extend", "settle", "sweep"}
    assert core <= public
