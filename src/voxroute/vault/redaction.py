"""Redaction of live secret values from log records (stdlib logging and loguru)."""

from __future__ import annotations

import base64
import logging
import threading
import urllib.parse

_lock = threading.Lock()
_values: set[str] = set()
_MIN_LEN = 6
MASK = "[REDACTED]"


def _forms(value: str) -> set[str]:
    raw = value.encode()
    return {
        value,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
    }


def register(value: str) -> None:
    """Remember a secret value (and its common encodings) so log lines mask it."""
    if len(value) < _MIN_LEN:
        return
    with _lock:
        _values.update(f for f in _forms(value) if len(f) >= _MIN_LEN)


def redact(text: str) -> str:
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks registered secret values in the formatted message and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted)
            record.exc_info = None
        return True

