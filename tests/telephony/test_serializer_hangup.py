"""The REST hang-up opens the account's auth token only when it is made, and never leaks it.

The success path (the token opened, Twilio's REST API called with it) runs end to end in
`tests/calls/test_end_to_end.py` against the Twilio emulator, which answers 401 to a wrong
token.
"""

from __future__ import annotations

import logging

import pytest
from pipecat.frames.frames import EndFrame, OutputAudioRawFrame

from voxroute.telephony.twilio.serializer import VoxrouteTwilioSerializer
from voxroute.vault.secret import Secret

CANARY = "twilio-token-canary-5150"


class Opener:
    def __init__(self, *, fails: bool = False) -> None:
        self.calls = 0
        self._fails = fails

    async def __call__(self) -> Secret:
        self.calls += 1
        if self._fails:
            raise RuntimeError(f"vault unavailable while opening {CANARY}")
        return Secret(CANARY)


def serializer(opener: Opener, api_base_url: str) -> VoxrouteTwilioSerializer:
    return VoxrouteTwilioSerializer(
        stream_sid="MZ" + "1" * 32,
        call_sid="CA" + "1" * 32,
        account_sid="AC" + "1" * 32,
        auth_token=opener,
        api_base_url=api_base_url,  # refused: the REST call fails: pipecat logs and goes on
        max_message_bytes=65536,
    )


async def test_the_token_is_opened_once_at_the_hang_up_and_not_kept(refused_url: str) -> None:
    opener = Opener()
    twilio = serializer(opener, refused_url)
    await twilio.serialize(OutputAudioRawFrame(b"\x00\x00" * 160, 8000, 1))
    assert opener.calls == 0  # not at set-up, not for audio
    assert await twilio.serialize(EndFrame()) is None
    assert await twilio.serialize(EndFrame()) is None  # one hang-up per call
    assert opener.calls == 1
    assert CANARY not in vars(twilio).values()  # forgotten once the hang-up is made


async def test_a_token_that_cannot_be_opened_skips_the_hang_up_without_leaking_it(
    caplog: pytest.LogCaptureFixture, refused_url: str
) -> None:
    opener = Opener(fails=True)
    twilio = serializer(opener, refused_url)
    with caplog.at_level(logging.DEBUG):
        assert await twilio.serialize(EndFrame()) is None
    assert opener.calls == 1
    assert "could not be opened (RuntimeError)" in caplog.text
    assert CANARY not in caplog.text


async def test_without_credentials_there_is_no_hang_up() -> None:
    twilio = VoxrouteTwilioSerializer(
        stream_sid="MZ" + "2" * 32,
        call_sid="CA" + "2" * 32,
        account_sid="AC" + "2" * 32,
        auth_token=None,
        api_base_url=None,
        max_message_bytes=65536,
    )
    assert await twilio.serialize(EndFrame()) is None
