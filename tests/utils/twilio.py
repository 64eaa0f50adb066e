"""A Twilio number on an org and a signed voice webhook to it, through the API app."""

from __future__ import annotations

import httpx

from tests.utils.api import Api, Org
from voxroute.telephony.twilio.signature import compute_signature

ACCOUNT_SID = "AC" + "ab12" * 8
AUTH_TOKEN = "0f" * 16  # noqa: S105  (a test credential)
ASSISTANT = {
    "name": "Desk",
    "stt_config": {"provider": "deepgram"},
    "llm_config": {"provider": "openai"},
    "tts_config": {"provider": "cartesia"},
}


async def add_number(org: Org, number: str, assistant_id: str | None = None) -> str:
    """Register `number` on the org with Twilio credentials; returns the assistant id."""
    if assistant_id is None:
        created = await org.owner.post("/assistants", json=ASSISTANT)
        assert created.status_code == 201, created.text
        assistant_id = str(created.json()["id"])
    response = await org.owner.post(
        "/phone-numbers",
        json={
            "number": number,
            "assistant_id": assistant_id,
            "telephony": {
                "provider": "twilio",
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
            },
        },
    )
    assert response.status_code == 201, response.text
    return assistant_id


async def voice_webhook(api: Api, number: str, call_sid: str) -> httpx.Response:
    """A ringing call to `number`, signed with the number's auth token as Twilio signs it."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "From": "+15550000001",
        "To": number,
        "CallStatus": "ringing",
    }
    url = api.runtime.settings.resolved_public_url + "/telephony/twilio/voice"
    return await api.anon.post(
        "http://test/telephony/twilio/voice",
        data=params,
        headers={"X-Twilio-Signature": compute_signature(AUTH_TOKEN, url, params)},
    )
