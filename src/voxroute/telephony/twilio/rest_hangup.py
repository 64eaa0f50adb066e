"""Hang up a call at Twilio through its REST API, from a worker that does not hold the call.

A call whose worker died still rings on at the carrier (the media stream is gone, the PSTN
leg is not). `POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json` with `Status=completed` ends
it; Twilio answers the same for a call that already ended, so repeating it is harmless.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import aiohttp

from voxroute.telephony.twilio.numbers import TWILIO_API_BASE_URL
from voxroute.vault.secret import Secret

__all__ = ["complete_call"]

log = logging.getLogger(__name__)
_TIMEOUT = aiohttp.ClientTimeout(total=10)


async def complete_call(
    http: aiohttp.ClientSession,
    *,
    account_sid: str,
    call_sid: str,
    auth_token: Secret,
    api_base_url: str = TWILIO_API_BASE_URL,
) -> bool:
    """True when Twilio took the hang-up (2xx, or 404: no such live call)."""
    url = (
        f"{api_base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}"
        f"/Calls/{quote(call_sid, safe='')}.json"
    )
    headers = {"Authorization": aiohttp.encode_basic_auth(account_sid, auth_token.reveal())}
    try:
        async with http.post(
            url, data={"Status": "completed"}, headers=headers, timeout=_TIMEOUT
        ) as response:
            if response.status < 300 or response.status == 404:
                return True
            log.warning("twilio hang-up of %s answered %d", call_sid, response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("twilio hang-up of %s failed: %s", call_sid, type(exc).__name__)
    return False
