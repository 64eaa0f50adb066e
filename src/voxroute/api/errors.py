"""Map the voxroute error tree and request validation errors to JSON responses.

Validation errors never echo the submitted input: a wrongly typed field may hold a key.
Anything unhandled answers 500 `internal_error` in the same JSON shape, never plain text.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from voxroute.errors import RateLimited, VoxrouteError
from voxroute.vault.redaction import redact

log = logging.getLogger("voxroute.api")


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    """The API's one JSON error shape, with anything secret-looking redacted from the message."""
    return {"error": {"code": code, "message": redact(message), **extra}}


async def _voxroute_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VoxrouteError)
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited) else None
    return JSONResponse(error_body(exc.code, exc.message), exc.status_code, headers=headers)


def _where(loc: list[str]) -> str:
    """A field path without its `body`/`query` prefix: `["body", "name"]` → `name`."""
    return ".".join(loc[1:]) or ".".join(loc) or "request"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details: list[dict[str, Any]] = [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "invalid"))}
        for err in exc.errors()
    ]
    # Field paths and pydantic's messages name the problem; neither repeats the input.
    summary = "; ".join(f"{_where(d['loc'])}: {d['msg']}" for d in details[:5])
    return JSONResponse(
        error_body("invalid_input", f"request validation failed ({summary})", details=details),
        422,
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        error_body(f"http_{exc.status_code}", str(exc.detail)), exc.status_code, headers=exc.headers
    )


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # Logged here with its traceback (redacted by the log filter; SQL statements are logged
    # without their bound parameters, see db/session.py); the client learns nothing of it.
    if isinstance(exc, ClientDisconnect):
        # The client went away mid-body (or a slow one was dropped, http_guard.py logs
        # that): no error of ours, and no one left to answer.
        log.debug("client left during %s %s", request.method, request.url.path)
    else:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal_error", "internal server error"), 500)


async def _pool_exhausted(_: Request, exc: Exception) -> JSONResponse:
    # No connection within the API pool's timeout: answer at once rather than queue behind
    # other requests (the calls' own pool is separate and unaffected).
    return JSONResponse(
        error_body("database_busy", "the service is busy; retry shortly"),
        503,
        headers={"Retry-After": "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the API's JSON shape; unknown ones as a 500 that reveals nothing."""
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(PoolTimeout, _pool_exhausted)
    app.add_exception_handler(VoxrouteError, _voxroute_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
