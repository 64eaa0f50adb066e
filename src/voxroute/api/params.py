"""Strict query parameter types: what the URL says is what the route gets.

Query values arrive as text, so pydantic's strict mode cannot apply; these types refuse the
lax readings instead: `limit=3%0B` (whitespace), `before_seq=0.0` or `1e23` (not digits),
`start=0.5` (a Unix timestamp), a date-time without a time zone, and values out of range.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
MAX_INT64 = 2**63 - 1
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_DIGITS = re.compile(r"-?[0-9]{1,19}")
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _digits_only(value: Any) -> Any:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be an integer written in decimal digits")
    return value


def _iso_only(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_DATETIME.fullmatch(value):
        raise ValueError(
            "must be an ISO 8601 date-time with a time zone, e.g. 2026-12-01T00:00:00Z"
        )
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(f"date-time must be between {EARLIEST.year} and {LATEST.year}")
    return utc


QueryInt = Annotated[int, BeforeValidator(_digits_only)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_to_utc)]
