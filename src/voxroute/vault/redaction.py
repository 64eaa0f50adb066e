"""Redaction of live secret values from logs (stdlib logging and loguru) and error text.

Every `Secret` registers its value here when created, together with its base64 and
URL-encoded forms, so a value that escapes into a log line by accident is still masked.
Registered values stay for the life of the process: a log line may mention a key long after
the call that used it ended. Only key-shaped values are registered (`looks_like_key`): the
registry is shared by every tenant of the process, so a tenant that saved an ordinary word
as a "key" would otherwise mask that word in every other tenant's messages.

Install once at start-up, after logging is configured: `install_log_redaction()`.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import traceback
import urllib.parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loguru import Record

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None
MIN_KEY_LENGTH = 16
MASK = "[REDACTED]"

# Shapes of credentials that `sanitize` masks even when the value was never registered.
_KEY_SHAPES = re.compile(
    r"(?i)\b(?:sk|pk|rk|xai|gsk|key|sess|tok)[-_](?:[a-z0-9]+[-_])*[a-z0-9]{12,}\b"
)
_BEARER = re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_NAMED = re.compile(
    r"(?i)\b((?:x-)?(?:api[-_]?key|xi-api-key|access[-_]?token|auth[-_]?token|"
    r"authorization|secret|password|token|key))(\s*[\"']?\s*[:=]\s*[\"']?)"
    r"((?:bearer|basic|token)\s+)?([^\s\"'&,;}]{4,})"
)


def _forms(value: str) -> set[str]:
    raw = value.encode()
    return {
        value,
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
    }


def looks_like_key(value: str) -> bool:
    """Whether `value` could be a real credential rather than a word or a phrase.

    At least `MIN_KEY_LENGTH` printable ASCII characters without spaces, with a letter and
    either a digit or both cases. Every provider's real keys pass (random base62/hex/base64);
    words, identifiers and enum values of this codebase (`fallback_to_managed`) do not.
    """
    if len(value) < MIN_KEY_LENGTH or not all("\x21" <= c <= "\x7e" for c in value):
        return False
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    has_digit = any(c.isdigit() for c in value)
    return (has_lower or has_upper) and (has_digit or (has_lower and has_upper))


def forms_of(value: str) -> set[str]:
    """`value` and the encodings in which it may escape (base64, URL-encoded)."""
    return _forms(value)


def register(value: str) -> None:
    """Remember a secret value (and its common encodings) so log lines mask it.

    Values that do not look like a key are ignored (see the module docstring).
    """
    global _pattern
    if not looks_like_key(value):
        return
    forms = {f for f in _forms(value) if len(f) >= MIN_KEY_LENGTH}
    with _lock:
        if not forms <= _values:
            _values.update(forms)
            _pattern = None


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _values:
            # Longest first, so a base64 form is masked whole rather than around a substring.
            ordered = sorted(_values, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return _pattern


def redact(text: str) -> str:
    """`text` with every registered value (in any registered encoding) replaced by `MASK`."""
    pattern = _compiled()
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def sanitize(text: str, *, limit: int = 500) -> str:
    """Make a provider's error text safe to store, log or show.

    Masks registered values and anything shaped like a credential (`sk-…`, `Bearer …`,
    `api_key=…`), then truncates. Use it on every message before re-raising a provider error.
    """
    cleaned = redact(text)
    cleaned = _NAMED.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{MASK}", cleaned)
    cleaned = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", cleaned)
    cleaned = _KEY_SHAPES.sub(MASK, cleaned)
    if len(cleaned) > limit:
        cleaned = cleaned[: max(limit - 1, 0)] + "…"
    return cleaned


class RedactingFilter(logging.Filter):
    """Masks registered secret values in the message, exception and stack text of a record.

    Attach it to handlers (not loggers): a logger's filters do not see records propagated from
    child loggers, a handler's filters see every record it emits.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact(formatted)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _install_stdlib(filter_: logging.Filter) -> None:
    loggers: list[logging.Logger] = [logging.getLogger()]
    known = list(logging.Logger.manager.loggerDict.values())
    loggers += [lg for lg in known if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(filter_)


def loguru_patcher(record: Record) -> None:
    """A loguru patcher: mask the message and extras; render the exception here, redacted.

    loguru renders tracebacks in the sink, after patchers run, and with `diagnose=True` it
    prints local variable values. So the exception is formatted here (without locals),
    redacted, appended to the message, and removed from the record.
    """
    record["message"] = redact(record["message"])
    exception = record["exception"]
    if exception is not None:
        text = "".join(
            traceback.format_exception(exception.type, exception.value, exception.traceback)
        )
        record["message"] = f"{record['message']}\n{redact(text).rstrip()}"
        record["exception"] = None
    extra = record["extra"]
    for name, value in list(extra.items()):
        if isinstance(value, str):
            extra[name] = redact(value)


def install_log_redaction(*, loguru: bool = True) -> None:
    """Mask secrets in every stdlib handler configured so far, and in loguru (pipecat's logger).

    Idempotent. Call again after adding handlers. Replaces any loguru patcher set before.
    """
    _install_stdlib(RedactingFilter())
    if loguru:
        from loguru import logger

        logger.configure(patcher=loguru_patcher)
