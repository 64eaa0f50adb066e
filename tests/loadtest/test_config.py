"""The load generator's guards: loopback only, bounded in calls and time."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxroute.loadtest import LoadConfig, LoadConfigError, check_loopback
from voxroute.loadtest.stats import percentile, summary

CLIP = Path("clip.wav")


def config(**overrides: object) -> LoadConfig:
    values: dict[str, object] = {
        "url": "http://127.0.0.1:8000",
        "number": "+15550100000",
        "account_sid": "AC" + "0" * 32,
        "auth_token": "token",
        "clips": [CLIP],
    }
    values.update(overrides)
    return LoadConfig(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:1", "ws://[::1]:9"])
def test_loopback_targets_are_accepted(url: str) -> None:
    check_loopback(url)


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "https://192.0.2.7/", "ftp://127.0.0.1/"])
def test_anything_but_loopback_is_refused(url: str) -> None:
    with pytest.raises(LoadConfigError):
        check_loopback(url)


@pytest.mark.parametrize(
    "overrides", [{"calls": 0}, {"calls": 5000}, {"duration_s": 0.1}, {"duration_s": 10**5}]
)
def test_runs_are_bounded_in_count_and_time(overrides: dict[str, object]) -> None:
    with pytest.raises(LoadConfigError):
        config(**overrides).validate()


def test_the_hard_limit_covers_ramp_duration_and_hang_up() -> None:
    cfg = config(calls=100, duration_s=60)
    assert cfg.effective_ramp_s == 5.0
    assert cfg.hard_limit_s > cfg.effective_ramp_s + cfg.duration_s


def test_the_auth_token_never_appears_in_the_repr() -> None:
    assert "token" not in repr(config(auth_token="token")).replace("auth_token", "")


def test_percentiles_use_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile([], 0.5) is None
    assert summary(values)["p99"] == 99.0 and summary(values)["max"] == 100.0
    assert summary([])["count"] == 0
