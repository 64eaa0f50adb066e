"""`TwilioMediaSession`: Twilio's media stream as the carrier-neutral `MediaSession`.

Whole calls through it run in tests/calls (softphone → uvicorn → emulators); here, what it
maps: the call's identity and start, the close codes, and Twilio's `stop` as the caller
hanging up (with no REST hang-up after it).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from voxroute.settings import load_settings
from voxroute.telephony.audio_clock import AudioClock
from voxroute.telephony.media import CloseReason, MediaEvents, MediaSession
from voxroute.telephony.twilio.media import TwilioMediaSession
from voxroute.telephony.twilio.protocol import Start

STREAM = "MZ" + "a" * 32
CALL_SID = "CA" + "a" * 32
ACCOUNT = "AC" + "a" * 32


class FakeSocket:
    scope: dict[str, Any] = {}  # no media lane offered

    def __init__(self) -> None:
        self.closed: list[int] = []

    async def close(self, code: int) -> None:
        self.closed.append(code)


def session(socket: FakeSocket) -> TwilioMediaSession:
    call = SimpleNamespace(
        id="call_1", provider_call_id=CALL_SID, from_number="+15550001", to_number="+15550002"
    )
    start = Start(STREAM, CALL_SID, ACCOUNT, custom_parameters={"call_token": "t", "x": "y"})
    return TwilioMediaSession(
        socket,  # type: ignore[arg-type]
        start,
        call,  # type: ignore[arg-type]
        settings=load_settings(public_url="http://127.0.0.1:1"),
        clock=AudioClock(),
    )


def test_identity_and_start_come_from_the_claimed_call_and_twilio_start() -> None:
    media: MediaSession = session(FakeSocket())
    assert (media.start.carrier, media.start.stream_id, media.start.sample_rate) == (
        "twilio",
        STREAM,
        8000,
    )
    assert media.start.custom_parameters == {"call_token": "t", "x": "y"}
    assert media.identity.call_id == "call_1"
    assert (media.identity.carrier_call_id, media.identity.account) == (CALL_SID, ACCOUNT)
    assert (media.identity.from_number, media.identity.to_number) == ("+15550001", "+15550002")


@pytest.mark.parametrize(
    ("reason", "code"),
    [(CloseReason.NORMAL, 1000), (CloseReason.REFUSED, 1008), (CloseReason.TRY_LATER, 1013)],
)
async def test_a_refusal_closes_the_socket_with_its_websocket_code(
    reason: CloseReason, code: int
) -> None:
    socket = FakeSocket()
    await session(socket).close(reason)
    assert socket.closed == [code]


async def test_twilio_stop_is_the_caller_hanging_up_and_suppresses_the_rest_hang_up() -> None:
    media = session(FakeSocket())
    hung_up: list[str] = []
    media.connect(
        audio_sink=lambda _pcm: None,
        events=MediaEvents(
            caller_hung_up=lambda: hung_up.append("caller"),
            flooded=lambda: hung_up.append("flood"),
            speaking=lambda: None,
        ),
        hang_up_secret=None,
    )
    stop = json.dumps({"event": "stop", "streamSid": STREAM, "stop": {"callSid": CALL_SID}})
    serializer = media._serializer  # the transport's receive loop calls it the same way
    assert await serializer.deserialize(stop) is None
    assert hung_up == ["caller"]
    assert serializer._hangup_attempted  # no REST hang-up for a call the caller ended
    assert media.stats()["rejected_messages"] == 0
    with pytest.raises(RuntimeError):
        media.connect(
            audio_sink=lambda _pcm: None,
            events=MediaEvents(lambda: None, lambda: None, lambda: None),
            hang_up_secret=None,
        )
