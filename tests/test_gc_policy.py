"""The worker's collector policy: rare full collections, every pause observed."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Histogram

from voxroute.gc_policy import GcPauses, tune_collector


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_tune_collector_changes_only_how_often_full_collections_run(thresholds: None) -> None:
    young, middle, _ = gc.get_threshold()
    tune_collector(1000)
    assert gc.get_threshold() == (young, middle, 1000)


def _count(registry: CollectorRegistry, generation: str) -> float:
    value = registry.get_sample_value("voxroute_gc_pause_seconds_count", {"generation": generation})
    return value or 0.0


def test_every_collection_is_observed_by_generation_until_removed() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("voxroute_gc_pause_seconds", "pauses", ["generation"], registry=registry)
    pauses = GcPauses(histogram)
    pauses.install()
    pauses.install()  # idempotent: one observation per collection
    try:
        gc.collect(2)
        gc.collect(0)
        full, young = _count(registry, "2"), _count(registry, "0")
        assert full >= 1 and young >= 1
        total = registry.get_sample_value("voxroute_gc_pause_seconds_sum", {"generation": "2"})
        assert total is not None and total > 0
    finally:
        pauses.remove()
    gc.collect(2)
    assert _count(registry, "2") == full
