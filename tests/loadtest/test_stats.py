from __future__ import annotations

from voxroute.loadtest.stats import concurrency


def test_concurrency_counts_the_calls_up_at_once_and_how_long_all_were() -> None:
    assert concurrency([(0.0, 10.0), (2.0, 12.0), (4.0, 11.0)]) == {"peak": 3, "all_live_s": 6.0}


def test_calls_that_never_overlap_were_never_all_up() -> None:
    # The second starts as the first ends: touching spans are not concurrent.
    assert concurrency([(0.0, 5.0), (5.0, 9.0), (6.0, 8.0)]) == {"peak": 2, "all_live_s": 0.0}


def test_no_call_went_live() -> None:
    assert concurrency([]) == {"peak": 0, "all_live_s": 0.0}
