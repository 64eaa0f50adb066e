"""Refuse input no route could mean at the API's edge (pure ASGI middleware).

Control characters in a path id, a query parameter or a JSON string make no sense in any
field of this API, and PostgreSQL refuses a NUL in text with an error (a 500 if it gets that
far); lone UTF-16 surrogates cannot be encoded for the database at all; deeply nested JSON
only costs recursion. All three answer 422 in the API's error shape before a route runs.
Free text may keep tab, newline and carriage return.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxroute.input_text import bad_text

MAX_JSON_DEPTH = 32
_BAD_IN_URL = re.compile(rb"[\x00-\x1f\x7f]")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def _json_depth(body: bytes) -> int:
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub(b"", body)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def _holds_bad_text(value: Any) -> bool:
    """Walk a parsed JSON document (its depth already bounded) for bad strings and keys."""
    if isinstance(value, str):
        return bad_text(value)
    if isinstance(value, dict):
        return any(bad_text(k) or _holds_bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_bad_text(v) for v in value)
    return False


def check_body(body: bytes) -> str | None:
    """The problem with a JSON body, or None. Malformed JSON is left to the route's parser."""
    if _json_depth(body) > MAX_JSON_DEPTH:
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    if b"\\u" not in body:
        return None  # raw control characters inside strings are malformed JSON already
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if _holds_bad_text(document):
        return "control characters are not allowed in JSON strings"
    return None


def check_url(scope: Scope) -> str | None:
    """Why the request's path or query string is refused (control characters), else None."""
    path: str = scope.get("path", "")
    if bad_text(path):
        return "control characters are not allowed in the path"
    query: bytes = scope.get("query_string", b"")
    if query and _BAD_IN_URL.search(unquote_to_bytes(query.replace(b"+", b" "))):
        return "control characters are not allowed in query parameters"
    return None


class InputEdge:
    """Applies `check_url` and `check_body` to requests under `prefix`."""

    def __init__(self, app: ASGIApp, *, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        problem = check_url(scope)
        if problem is not None:
            await _refuse(send, problem)
            return
        # Every body is read as JSON here: FastAPI parses a body without a content type as JSON.
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        problem = check_body(bytes(body))
        if problem is not None:
            await _refuse(send, problem)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"error": {"code": "invalid_input", "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
