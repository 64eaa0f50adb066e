"""Proof that a Twilio account owns a phone number, asked of Twilio's REST API.

Before a number routes calls to an org, the org shows it holds the account the number is on:
`GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=…` with the
account's credentials must list it. Without this any tenant could register any number first
(squatting it) and learn from the conflict which numbers other tenants own.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import aiohttp

from voxroute.errors import InvalidInput, ProviderUnavailable
from voxroute.vault.secret import Secret

__all__ = ["TWILIO_API_BASE_URL", "verify_number_on_account"]

log = logging.getLogger(__name__)
TWILIO_API_BASE_URL = "https://api.twilio.com"
_TIMEOUT = aiohttp.ClientTimeout(total=10)


async def verify_number_on_account(
    http: aiohttp.ClientSession,
    *,
    number: str,
    account_sid: str,
    auth_token: Secret,
    api_base_url: str = TWILIO_API_BASE_URL,
) -> None:
    """Return if the account lists `number` among its incoming numbers; raise otherwise.

    `InvalidInput` (422) when Twilio refuses the credentials or the account does not hold the
    number; `ProviderUnavailable` (502) when Twilio cannot be asked (nothing is saved then).
    """
    url = (
        f"{api_base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}"
        "/IncomingPhoneNumbers.json"
    )
    headers = {"Authorization": aiohttp.encode_basic_auth(account_sid, auth_token.reveal())}
    try:
        async with http.get(
            url, params={"PhoneNumber": number}, headers=headers, timeout=_TIMEOUT
        ) as response:
            if response.status in (401, 403):
                raise InvalidInput("Twilio refused these account credentials")
            if response.status != 200:
                raise ProviderUnavailable(
                    f"Twilio answered {response.status} to the number check; try again"
                )
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("twilio number check failed: %s", type(exc).__name__)
        raise ProviderUnavailable("Twilio could not be reached to check the number") from exc
    listed = body.get("incoming_phone_numbers") if isinstance(body, dict) else None
    numbers = {entry.get("phone_number") for entry in listed or [] if isinstance(entry, dict)}
    if number not in numbers:
        raise InvalidInput("this number is not on the given Twilio account")
