"""What a load test does, and the guards that keep it bounded and on loopback.

A load generator that could be pointed at a production host, or left running, is a
denial-of-service tool; so every run is capped in calls and time and refuses any target that
does not resolve to this machine.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["MAX_CALLS", "MAX_DURATION_S", "LoadConfig", "LoadConfigError", "check_loopback"]

MAX_CALLS = 1000
MAX_DURATION_S = 900.0
MAX_RAMP_S = 300.0


class LoadConfigError(ValueError):
    """The load test was asked for something it refuses to do."""


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """One load run: `calls` calls started over `ramp_s`, then all up together for `duration_s`.

    Every call hangs up at ramp + duration, so an early one lasts longer.
    """

    url: str
    number: str
    account_sid: str
    auth_token: str = field(repr=False)
    clips: Sequence[Path]
    calls: int = 10
    duration_s: float = 15.0
    ramp_s: float | None = None  # default: 50 ms per call, at least 1 s
    from_number: str = "+15550109999"
    initial_wait_s: float = 0.5  # silence before listening for the greeting
    pause_s: float = 1.0  # silence after each reply before the next utterance
    quiet_s: float = 0.8  # a reply is over after this long without audio
    reply_timeout_s: float = 8.0
    progress_interval_s: float = 2.0

    @property
    def effective_ramp_s(self) -> float:
        if self.ramp_s is not None:
            return self.ramp_s
        return max(1.0, self.calls * 0.05)

    @property
    def hard_limit_s(self) -> float:
        """Wall-clock bound for the whole run (set-up, ramp, calls, hang-up)."""
        return self.effective_ramp_s + self.duration_s + self.reply_timeout_s + 30.0

    def validate(self) -> None:
        if not 1 <= self.calls <= MAX_CALLS:
            raise LoadConfigError(f"--calls must be within 1..{MAX_CALLS}")
        if not 1.0 <= self.duration_s <= MAX_DURATION_S:
            raise LoadConfigError(f"--duration must be within 1..{MAX_DURATION_S:.0f} s")
        if not 0.0 <= self.effective_ramp_s <= MAX_RAMP_S:
            raise LoadConfigError(f"--ramp must be within 0..{MAX_RAMP_S:.0f} s")
        if not self.clips:
            raise LoadConfigError("need at least one speech clip")
        check_loopback(self.url)


def check_loopback(url: str) -> None:
    """Refuse any URL whose host is not a loopback address (names are resolved first)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise LoadConfigError(f"not an http(s)/ws(s) URL: {url!r}")
    host = parts.hostname
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise LoadConfigError(f"cannot resolve {host!r}") from exc
    for address in addresses:
        if not ipaddress.ip_address(address.split("%", 1)[0]).is_loopback:
            raise LoadConfigError(
                f"refusing to load {host!r} ({address}): the load generator only targets loopback"
            )
