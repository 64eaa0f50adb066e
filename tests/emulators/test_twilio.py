"""The Twilio REST emulator, driven by pipecat's serializer hang-up."""

from __future__ import annotations

import base64

import aiohttp
from pipecat.frames.frames import EndFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

from voxroute.emulators import EmulatorSuite

ACCOUNT = "AC" + "0" * 32
TOKEN = "twilio-auth-token-0123456789"


async def test_pipecat_serializer_hang_up_is_recorded(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    key_id = suite.register_key("twilio", TOKEN, account_sid=ACCOUNT)
    serializer = TwilioFrameSerializer(
        stream_sid="MZ1",
        call_sid="CA123",
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        base_url=suite.base_urls["twilio"],
    )
    await serializer.serialize(EndFrame())
    [record] = suite.requests("twilio")
    assert (record.method, record.path, record.status, record.key_id) == (
        "POST",
        f"/2010-04-01/Accounts/{ACCOUNT}/Calls/CA123.json",
        200,
        key_id,
    )
    async with http.get(suite.base_urls["twilio"] + "/_emulator/calls") as response:
        [call] = (await response.json())["calls"]
    assert (call["call_sid"], call["status"], call["key_id"]) == ("CA123", "completed", key_id)


async def test_a_token_of_another_account_gets_20003(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    suite.register_key("twilio", TOKEN, account_sid=ACCOUNT)
    other = "AC" + "1" * 32
    auth = base64.b64encode(f"{other}:{TOKEN}".encode()).decode()
    url = suite.base_urls["twilio"] + f"/2010-04-01/Accounts/{other}/Calls/CA9.json"
    async with http.post(
        url, data={"Status": "completed"}, headers={"Authorization": f"Basic {auth}"}
    ) as response:
        assert response.status == 401
        assert (await response.json())["code"] == 20003
