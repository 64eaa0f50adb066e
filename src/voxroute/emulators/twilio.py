"""Twilio REST emulator: call updates (hang-up), call creation and account lookup.

Auth is HTTP Basic ``AccountSid:AuthToken``. Keys are registered as the auth token with
``account_sid``; the Basic user and the account in the path must both match it, otherwise
Twilio's 401 ``20003 Authenticate`` body is returned. Hang-ups (``Status=completed``) are
recorded and served at ``GET /_emulator/calls``.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any, ClassVar

from aiohttp import web

from ._base import Emulator, exchange_of
from ._core import BadInput

__all__ = ["TwilioEmulator"]

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$|^AC[0-9A-Za-z_]{1,64}$")
_FAULTS = {
    401: (20003, "Authenticate"),
    403: (20403, "Forbidden"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


def twilio_error(status: int, code: int, message: str) -> web.Response:
    """Twilio's ``{code, message, more_info, status}`` error body."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)


def _basic(request: web.Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class TwilioEmulator(Emulator):
    """``/2010-04-01/Accounts/{AC}/Calls/{CA}.json`` and friends."""

    provider: ClassVar[str] = "twilio"

    def __init__(self, *, latency_ms: int = 0) -> None:
        super().__init__(latency_ms=latency_ms)
        self.calls: list[dict[str, Any]] = []

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Twilio's REST routes."""
        base = "/2010-04-01/Accounts/{account_sid}"
        router.add_get(base + ".json", self.account)
        router.add_get(base + "/IncomingPhoneNumbers.json", self.incoming_numbers)
        router.add_post(base + "/Calls.json", self.create_call)
        router.add_get(base + "/Calls/{call_sid}.json", self.get_call)
        router.add_post(base + "/Calls/{call_sid}.json", self.update_call)

    def add_control_routes(self, router: web.UrlDispatcher) -> None:
        """``GET /_emulator/calls``: every call update received (hang-ups included)."""
        router.add_get("/_emulator/calls", self._control_calls)

    async def _control_calls(self, request: web.Request) -> web.Response:
        return web.json_response({"calls": self.calls})

    def register_extra(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Requires ``account_sid`` (``AC…``); ``numbers`` lists the account's E.164 numbers."""
        unknown = set(body) - {"account_sid", "numbers"}
        if unknown:
            raise BadInput(f"unknown registration fields: {sorted(unknown)}")
        sid = body.get("account_sid")
        if not isinstance(sid, str) or not sid.startswith("AC"):
            raise BadInput("twilio keys need account_sid (AC…)")
        numbers = body.get("numbers", [])
        if not isinstance(numbers, list | tuple) or not all(isinstance(n, str) for n in numbers):
            raise BadInput("numbers must be a list of E.164 strings")
        return {"account_sid": sid, "numbers": list(numbers)}

    def extract_key(self, request: web.Request) -> str | None:
        """The auth token (Basic password)."""
        credentials = _basic(request)
        return credentials[1] if credentials else None

    def key_matches(self, request: web.Request, key: Any) -> bool:
        """The Basic user and the path account must be the key's account."""
        credentials = _basic(request)
        account = key.extra.get("account_sid")
        path_account = request.match_info.get("account_sid", account)
        return credentials is not None and credentials[0] == account == path_account

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """401 code 20003."""
        return twilio_error(401, *_FAULTS[401])

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """Injected status with a Twilio error body."""
        return twilio_error(status, *_FAULTS[status])

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """400 code 21200-style validation error."""
        return twilio_error(400, 21200, message)

    @staticmethod
    def _call(account_sid: str, call_sid: str, status: str, **extra: Any) -> dict[str, Any]:
        now = formatdate(usegmt=True)
        path = f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}"
        return {
            "sid": call_sid,
            "account_sid": account_sid,
            "status": status,
            "direction": "inbound",
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "end_time": now if status == "completed" else None,
            "uri": path + ".json",
            "subresource_uris": {"recordings": path + "/Recordings.json"},
            **extra,
        }

    async def account(self, request: web.Request) -> web.Response:
        """Credential check."""
        sid = request.match_info["account_sid"]
        return web.json_response(
            {"sid": sid, "friendly_name": "Emulated account", "status": "active", "type": "Full"}
        )

    async def incoming_numbers(self, request: web.Request) -> web.Response:
        """The account's numbers, filtered by ``PhoneNumber`` as Twilio filters them."""
        key = exchange_of(request).key
        owned: list[str] = list(key.extra.get("numbers", [])) if key else []
        wanted = request.query.get("PhoneNumber")
        sid = request.match_info["account_sid"]
        listed = [n for n in owned if wanted is None or n == wanted]
        path = f"/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json"
        return web.json_response(
            {
                "incoming_phone_numbers": [
                    {
                        "sid": "PN" + uuid.uuid5(uuid.NAMESPACE_URL, sid + n).hex,
                        "account_sid": sid,
                        "phone_number": n,
                        "friendly_name": n,
                    }
                    for n in listed
                ],
                "page": 0,
                "page_size": 50,
                "uri": path,
            }
        )

    async def get_call(self, request: web.Request) -> web.Response:
        """Any call id is answered as an in-progress call."""
        info = request.match_info
        return web.json_response(self._call(info["account_sid"], info["call_sid"], "in-progress"))

    async def update_call(self, request: web.Request) -> web.Response:
        """Call update; ``Status=completed`` is a hang-up and is recorded."""
        form = await request.post()
        status = str(form.get("Status", "in-progress"))
        if status not in ("completed", "canceled", "in-progress"):
            raise BadInput(f"Status {status!r} is not valid")
        info = request.match_info
        key = exchange_of(request).key
        self.calls.append(
            {
                "account_sid": info["account_sid"],
                "call_sid": info["call_sid"],
                "status": status,
                "twiml": form.get("Twiml") is not None,
                "key_id": key.key_id if key else None,
                "time": time.time(),
            }
        )
        return web.json_response(self._call(info["account_sid"], info["call_sid"], status))

    async def create_call(self, request: web.Request) -> web.Response:
        """Outbound call creation: 201 with a queued call."""
        form = await request.post()
        for name in ("To", "From"):
            if not form.get(name):
                raise BadInput(f"A '{name}' phone number is required.")
        if not (form.get("Url") or form.get("Twiml")):
            raise BadInput("Either Url or Twiml is required.")
        call_sid = "CA" + uuid.uuid4().hex
        body = self._call(
            request.match_info["account_sid"],
            call_sid,
            "queued",
            to=str(form["To"]),
            **{"from": str(form["From"])},
        )
        body["direction"] = "outbound-api"
        return web.json_response(body, status=201)
