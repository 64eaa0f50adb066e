"""Percentiles and per-metric summaries shared by the live progress line and the report."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["concurrency", "percentile", "summary"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (`q` in 0..1) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def concurrency(spans: Sequence[tuple[float, float]]) -> dict[str, float | int]:
    """How many calls were up at once (`peak`) and for how long all of them were (`all_live_s`).

    Computed from each call's (start, end) on one clock.
    """
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    live = peak = 0
    for _, step in edges:  # at a tie an end (-1) sorts first: touching spans don't overlap
        live += step
        peak = max(peak, live)
    together = min(e for _, e in spans) - max(s for s, _ in spans) if spans else 0.0
    return {"peak": peak, "all_live_s": round(max(0.0, together), 2)}


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, p50, p90, p99, max — the shape every timing takes in the JSON report."""
    if not values:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)
    last = len(ordered) - 1

    def at(q: float) -> float:
        return round(ordered[min(last, round(q * last))], 2)

    return {
        "count": len(ordered),
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "max": round(ordered[-1], 2),
    }
