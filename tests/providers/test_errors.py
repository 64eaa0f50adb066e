"""Provider failures are classified by category and re-raised without secrets."""

from __future__ import annotations

import aiohttp
import httpx
import openai
import pytest
from pipecat.frames.frames import ErrorFrame
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from voxroute.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderQuotaExceeded,
    ProviderRateLimited,
    ProviderUnavailable,
)
from voxroute.providers import (
    ErrorCategory,
    classify_error_frame,
    classify_error_text,
    classify_exception,
    classify_status,
    provider_error,
    provider_error_from_exception,
    provider_error_from_frame,
)
from voxroute.vault.secret import Secret

CANARY = "sk-canary-errors-5f1e2d3c4b5a69788796a5b4"


@pytest.mark.parametrize(
    ("status", "code", "category"),
    [
        (401, None, ErrorCategory.AUTHENTICATION),
        (403, None, ErrorCategory.AUTHORIZATION),
        (402, None, ErrorCategory.QUOTA),
        (429, None, ErrorCategory.RATE_LIMIT),
        (429, "insufficient_quota", ErrorCategory.QUOTA),
        (401, "quota_exceeded", ErrorCategory.QUOTA),
        (500, None, ErrorCategory.SERVER),
        (503, None, ErrorCategory.SERVER),
        (400, None, ErrorCategory.INVALID_REQUEST),
    ],
)
def test_http_statuses_map_to_pipecat_error_categories(
    status: int, code: str | None, category: ErrorCategory
) -> None:
    assert classify_status(status, code) is category


def test_authentication_is_permanent_and_rate_limits_are_not() -> None:
    assert ErrorCategory.AUTHENTICATION.is_permanent
    assert not ErrorCategory.RATE_LIMIT.is_permanent
    assert not ErrorCategory.CONNECTIVITY.is_permanent


def _openai_error(status: int, code: str) -> openai.APIStatusError:
    request = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")
    response = httpx.Response(status, request=request)
    body = {"error": {"message": f"Incorrect API key provided: {CANARY}", "code": code}}
    cls = {401: openai.AuthenticationError, 429: openai.RateLimitError}[status]
    return cls(f"Error code: {status} - {body}", response=response, body=body["error"])


def test_sdk_exceptions_with_a_status_are_classified_by_status_and_code() -> None:
    assert classify_exception(_openai_error(401, "invalid_api_key")) is ErrorCategory.AUTHENTICATION
    assert classify_exception(_openai_error(429, "rate_limit_exceeded")) is ErrorCategory.RATE_LIMIT
    assert classify_exception(_openai_error(429, "insufficient_quota")) is ErrorCategory.QUOTA


def test_a_refused_websocket_upgrade_is_classified_by_its_http_status() -> None:
    exc = InvalidStatus(Response(401, "Unauthorized", Headers()))
    assert classify_exception(exc) is ErrorCategory.AUTHENTICATION


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        httpx.ConnectError("refused"),
        aiohttp.ServerDisconnectedError(),
    ],
)
def test_network_failures_are_connectivity(exc: BaseException) -> None:
    assert classify_exception(exc) is ErrorCategory.CONNECTIVITY


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Error getting audio (status: 401, error: invalid_api_key)", ErrorCategory.AUTHENTICATION),
        ("server rejected WebSocket connection: HTTP 429", ErrorCategory.RATE_LIMIT),
        ("HTTP 429: You exceeded your current quota", ErrorCategory.QUOTA),
        ("Unable to connect: [Errno 111] Connect call failed", ErrorCategory.CONNECTIVITY),
        ("HTTP 503: upstream unavailable", ErrorCategory.SERVER),
        ("something odd happened", ErrorCategory.UNKNOWN),
    ],
)
def test_error_frame_text_is_classified_when_no_category_was_set(
    text: str, category: ErrorCategory
) -> None:
    assert classify_error_text(text) is category
    assert classify_error_frame(ErrorFrame(error=text)) is category


def test_a_category_set_by_the_service_wins_over_the_text() -> None:
    frame = ErrorFrame(error="HTTP 500", category=ErrorCategory.AUTHENTICATION)
    assert classify_error_frame(frame) is ErrorCategory.AUTHENTICATION


@pytest.mark.parametrize(
    ("category", "cls"),
    [
        (ErrorCategory.AUTHENTICATION, ProviderAuthError),
        (ErrorCategory.AUTHORIZATION, ProviderAuthError),
        (ErrorCategory.RATE_LIMIT, ProviderRateLimited),
        (ErrorCategory.QUOTA, ProviderQuotaExceeded),
        (ErrorCategory.SERVER, ProviderUnavailable),
        (ErrorCategory.CONNECTIVITY, ProviderUnavailable),
        (ErrorCategory.UNKNOWN, ProviderError),
    ],
)
def test_each_category_raises_its_voxroute_error(
    category: ErrorCategory, cls: type[ProviderError]
) -> None:
    error = provider_error("OpenAI", category, status=401)
    assert type(error) is cls
    assert error.provider == "OpenAI" and error.status == 401


def test_wrapped_errors_never_repeat_the_key_the_provider_quoted_back() -> None:
    Secret(CANARY)  # registers the live value with redaction, as the vault does
    error = provider_error_from_exception("OpenAI", _openai_error(401, "invalid_api_key"))
    assert isinstance(error, ProviderAuthError)
    assert error.message == "OpenAI rejected the key (401 invalid_api_key)"
    frame_error = provider_error_from_frame(
        "OpenAI", ErrorFrame(error=f"HTTP 401 Incorrect API key provided: {CANARY}")
    )
    assert isinstance(frame_error, ProviderAuthError)
    for text in (str(error), error.message, str(frame_error), repr(frame_error)):
        assert CANARY not in text
