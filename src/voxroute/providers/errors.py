"""Why a provider call failed, and the sanitized voxroute error that says so.

Routing decides on the *category*, never on the provider (STYLE §2.3): authentication
failures are permanent (mark the credential invalid, never retry), rate limits and
provider outages may move to the next key of a pool, quota exhaustion may fall back to
the managed key when the policy allows. The categories are pipecat's own `ErrorCategory`
(``pipecat.utils.errors``), so an `ErrorFrame.category` set by a service is used as is.

Every message built here is assembled from fixed words plus short provider codes
(``invalid_api_key``) and passed through `redact`, so a key quoted back by a provider
(OpenAI's "Incorrect API key provided: sk-ab***") never reaches a log or an API answer.
"""

from __future__ import annotations

import asyncio
import re
import socket
from typing import TYPE_CHECKING

import aiohttp
import httpx
import httpx2
from pipecat.utils.errors import (
    ErrorCategory,
    classify_http_status_code,
    extract_http_status_code,
)

from voxroute.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderQuotaExceeded,
    ProviderRateLimited,
    ProviderUnavailable,
)
from voxroute.vault.redaction import redact

if TYPE_CHECKING:
    from pipecat.frames.frames import ErrorFrame

__all__ = [
    "ErrorCategory",
    "classify_error_frame",
    "classify_error_text",
    "classify_exception",
    "classify_status",
    "provider_error",
    "provider_error_from_exception",
    "provider_error_from_frame",
    "sanitize_detail",
]

# Provider error codes that mean "the account is out of credit", whatever the status.
QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "quota_exceeded",
        "daily_quota_exceeded",
        "monthly_quota_exceeded",
        "payment_required",
        "insufficient_credits",
    }
)
_CONNECTIVITY_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
    socket.gaierror,
    aiohttp.ClientConnectionError,
    httpx.TransportError,
    httpx2.TransportError,
)
_STATUS_IN_TEXT = re.compile(
    r"(?:\bHTTP[ /]?|status(?:[ _]code)?[:= ]+\(?|\berror[: ]+)([1-5]\d\d)\b", re.IGNORECASE
)
_TEXT_HINTS: tuple[tuple[re.Pattern[str], ErrorCategory], ...] = (
    (re.compile(r"quota|insufficient[_ ]credit|payment required", re.I), ErrorCategory.QUOTA),
    (re.compile(r"rate[_ ]?limit|too many requests", re.I), ErrorCategory.RATE_LIMIT),
    (
        re.compile(
            r"invalid[_ ]api[_ ]key|incorrect api key|invalid credentials|invalid[_ ]auth|"
            r"unauthori[sz]ed|authentication|access denied|forbidden",
            re.I,
        ),
        ErrorCategory.AUTHENTICATION,
    ),
    (
        re.compile(
            r"connection refused|cannot connect|connect call failed|timed? ?out|"
            r"name or service not known|getaddrinfo|unreachable|connection (?:reset|closed)",
            re.I,
        ),
        ErrorCategory.CONNECTIVITY,
    ),
)
_CODE_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{1,63}")
_SAFE_DETAIL = re.compile(r"[^A-Za-z0-9 _.,:;()/'\-]")


def classify_status(status: int, code: str | None = None) -> ErrorCategory:
    """Category of an HTTP answer; a quota ``code`` wins over the status (OpenAI 429).

    403 is reported as AUTHORIZATION (pipecat's word for it); both that and
    AUTHENTICATION are permanent and raise `ProviderAuthError`.
    """
    if code and code.lower() in QUOTA_CODES:
        return ErrorCategory.QUOTA
    return classify_http_status_code(status)


def _body_code(exc: BaseException) -> str | None:
    """``code`` / ``type`` of an SDK error body (openai's APIStatusError carries ``code``)."""
    for attr in ("code", "type"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and _CODE_TOKEN.fullmatch(value):
            return value
    return None


def classify_exception(exc: BaseException) -> ErrorCategory:
    """Category of an exception raised by a provider client (SDK, httpx, aiohttp, websockets).

    Our own `ProviderError`s keep the category their adapter already gave them.
    """
    for error_type, category in _CATEGORY_OF_ERROR:
        if isinstance(exc, error_type):
            return category
    status = extract_http_status_code(exc)
    if status is not None:
        return classify_status(status, _body_code(exc))
    if isinstance(exc, _CONNECTIVITY_TYPES):
        return ErrorCategory.CONNECTIVITY
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc:
        category = classify_exception(cause)
        if category is not ErrorCategory.UNKNOWN:
            return category
    return classify_error_text(str(exc))


def classify_error_text(text: str) -> ErrorCategory:
    """Best-effort category of free text, e.g. a pipecat `ErrorFrame.error`."""
    match = _STATUS_IN_TEXT.search(text)
    if match:
        status_category = classify_status(int(match.group(1)))
        quota = _TEXT_HINTS[0][0].search(text)
        if quota and status_category in (ErrorCategory.RATE_LIMIT, ErrorCategory.AUTHENTICATION):
            return ErrorCategory.QUOTA
        if status_category is not ErrorCategory.UNKNOWN:
            return status_category
    for pattern, category in _TEXT_HINTS:
        if pattern.search(text):
            return category
    return ErrorCategory.UNKNOWN


def classify_error_frame(frame: ErrorFrame) -> ErrorCategory:
    """The frame's own category when a service set one, else from its exception or text."""
    if frame.category is not None and frame.category is not ErrorCategory.UNKNOWN:
        return frame.category
    if frame.exception is not None:
        category = classify_exception(frame.exception)
        if category is not ErrorCategory.UNKNOWN:
            return category
    return classify_error_text(frame.error)


_ERROR_TYPES: dict[ErrorCategory, type[ProviderError]] = {
    ErrorCategory.AUTHENTICATION: ProviderAuthError,
    ErrorCategory.AUTHORIZATION: ProviderAuthError,
    ErrorCategory.RATE_LIMIT: ProviderRateLimited,
    ErrorCategory.QUOTA: ProviderQuotaExceeded,
    ErrorCategory.CONNECTIVITY: ProviderUnavailable,
    ErrorCategory.SERVER: ProviderUnavailable,
}
# Most specific first; the base `ProviderError` says nothing and is classified like others.
_CATEGORY_OF_ERROR: tuple[tuple[type[ProviderError], ErrorCategory], ...] = (
    (ProviderAuthError, ErrorCategory.AUTHENTICATION),
    (ProviderRateLimited, ErrorCategory.RATE_LIMIT),
    (ProviderQuotaExceeded, ErrorCategory.QUOTA),
    (ProviderUnavailable, ErrorCategory.SERVER),
)
_WORDS: dict[ErrorCategory, str] = {
    ErrorCategory.AUTHENTICATION: "rejected the key",
    ErrorCategory.AUTHORIZATION: "refused the key access",
    ErrorCategory.RATE_LIMIT: "rate-limited the key",
    ErrorCategory.QUOTA: "reports the key's quota is exhausted",
    ErrorCategory.CONNECTIVITY: "is unreachable",
    ErrorCategory.SERVER: "is failing",
    ErrorCategory.INVALID_REQUEST: "refused the request",
}


def sanitize_detail(text: str, limit: int = 120) -> str:
    """Provider text made safe to show: secrets masked, odd characters dropped, shortened."""
    cleaned = _SAFE_DETAIL.sub("", redact(text)).strip()
    return cleaned[:limit]


def provider_error(
    provider: str,
    category: ErrorCategory,
    *,
    status: int | None = None,
    code: str | None = None,
) -> ProviderError:
    """The voxroute exception for a classified failure, with a secret-free message."""
    label = f"{status} {code}" if status and code else str(status or code or "")
    label = sanitize_detail(label, 80)
    message = f"{provider} {_WORDS.get(category, 'failed')}" + (f" ({label})" if label else "")
    cls = _ERROR_TYPES.get(category, ProviderError)
    return cls(redact(message), provider=provider, status=status)


def provider_error_from_exception(provider: str, exc: BaseException) -> ProviderError:
    """Wrap a client exception; raise the result ``from exc`` to keep the chain."""
    status = extract_http_status_code(exc)
    code = _body_code(exc)
    if status is None and code is None and isinstance(exc, _CONNECTIVITY_TYPES):
        code = type(exc).__name__
    return provider_error(provider, classify_exception(exc), status=status, code=code)


def provider_error_from_frame(provider: str, frame: ErrorFrame) -> ProviderError:
    """The voxroute exception for an `ErrorFrame` pushed by a provider service."""
    status = None
    if frame.exception is not None:
        status = extract_http_status_code(frame.exception)
    if status is None:
        match = _STATUS_IN_TEXT.search(frame.error)
        status = int(match.group(1)) if match else None
    return provider_error(provider, classify_error_frame(frame), status=status)
