"""Resend emulator: send e-mail, list domains.

Auth is ``Authorization: Bearer re_…``. Errors use ``{"statusCode", "name", "message"}``:
no key → 401 ``missing_api_key``, unknown key → 403 ``invalid_api_key``; a key registered
with ``restricted: true`` can send but gets 401 ``restricted_api_key`` on ``/domains``.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from aiohttp import web

from ._base import Emulator, exchange_of, read_json_object
from ._core import BadInput

__all__ = ["ResendEmulator"]

_FAULTS = {
    401: ("missing_api_key", "Missing API key in the authorization header."),
    403: ("invalid_api_key", "API key is invalid"),
    429: ("rate_limit_exceeded", "Too many requests. You can only make 2 requests per second."),
    500: ("application_error", "An unexpected error occurred, please try again later."),
    503: ("application_error", "Service temporarily unavailable."),
}


def resend_error(status: int, name: str, message: str) -> web.Response:
    """Resend's error body."""
    return web.json_response(
        {"statusCode": status, "name": name, "message": message}, status=status
    )


class ResendEmulator(Emulator):
    """``POST /emails``, ``GET /domains``; sent messages at ``GET /_emulator/emails``."""

    provider: ClassVar[str] = "resend"

    def __init__(self, *, latency_ms: int = 0) -> None:
        super().__init__(latency_ms=latency_ms)
        self.emails: list[dict[str, Any]] = []

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Resend's routes."""
        router.add_post("/emails", self.send)
        router.add_get("/domains", self.domains)

    def add_control_routes(self, router: web.UrlDispatcher) -> None:
        """``GET /_emulator/emails``."""
        router.add_get("/_emulator/emails", self._control_emails)

    async def _control_emails(self, request: web.Request) -> web.Response:
        return web.json_response({"emails": self.emails})

    def extract_key(self, request: web.Request) -> str | None:
        """``Authorization: Bearer``."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return value.strip() or None

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """401 without a key, 403 with an unknown one."""
        return resend_error(*((401, *_FAULTS[401]) if not presented else (403, *_FAULTS[403])))

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """Injected status with Resend's body."""
        return resend_error(status, *_FAULTS[status])

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """Resend reports bad input as 422 ``validation_error``."""
        return resend_error(422, "validation_error", message)

    async def send(self, request: web.Request) -> web.Response:
        """Accept a message and return its id."""
        body = await read_json_object(request)
        for name in ("from", "to", "subject"):
            if not body.get(name):
                return resend_error(422, "missing_required_field", f"Missing `{name}` field.")
        to = body["to"] if isinstance(body["to"], list) else [body["to"]]
        if not all(isinstance(a, str) and "@" in a for a in to) or not isinstance(
            body["from"], str
        ):
            raise BadInput("Invalid `to` or `from` field.")
        if not (isinstance(body.get("html"), str) or isinstance(body.get("text"), str)):
            raise BadInput("Missing `html` or `text` field.")
        email_id = str(uuid.uuid4())
        key = exchange_of(request).key
        self.emails.append(
            {
                "id": email_id,
                "from": body["from"],
                "to": to,
                "subject": body["subject"],
                "key_id": key.key_id if key else None,
                "idempotency_key": request.headers.get("Idempotency-Key"),
            }
        )
        return web.json_response({"id": email_id})

    async def domains(self, request: web.Request) -> web.Response:
        """Full-access keys list domains; sending-only keys get 401 ``restricted_api_key``."""
        key = exchange_of(request).key
        if key is not None and key.extra.get("restricted"):
            return resend_error(
                401, "restricted_api_key", "This API key is restricted to only send emails"
            )
        domain = {
            "id": "d91cd9bd-1176-453e-8fc1-35364d380206",
            "name": "example.com",
            "status": "verified",
            "created_at": "2026-01-01 00:00:00.000000+00",
            "region": "us-east-1",
        }
        return web.json_response({"object": "list", "has_more": False, "data": [domain]})
