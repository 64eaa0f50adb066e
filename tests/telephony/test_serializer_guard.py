"""The Twilio serializer puts every inbound message through its inbound guard: a message
flood trips it once (the stream's `on_flood`), junk counts towards it, and `stop` is never
dropped, however many messages came before it."""

from __future__ import annotations

import json

from pipecat.frames.frames import InputDTMFFrame

from voxroute.telephony.inbound_guard import GuardLimits
from voxroute.telephony.twilio.serializer import StreamCallbacks, VoxrouteTwilioSerializer

SID = "MZ" + "1" * 32


def serializer(callbacks: StreamCallbacks, **limits: float) -> VoxrouteTwilioSerializer:
    return VoxrouteTwilioSerializer(
        stream_sid=SID,
        call_sid="CA" + "2" * 32,
        account_sid="AC" + "3" * 32,
        auth_token=None,
        api_base_url=None,
        max_message_bytes=65536,
        callbacks=callbacks,
        guard_limits=GuardLimits(**limits),
    )


def dtmf(digit: str = "5") -> str:
    return json.dumps({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": digit}})


async def test_a_dtmf_flood_trips_the_guard_once_and_stop_still_ends_the_stream() -> None:
    floods: list[str] = []
    stops: list[str] = []
    ser = serializer(
        StreamCallbacks(
            on_flood=lambda: floods.append("flood"), on_stop=lambda: stops.append("stop")
        ),
        events_per_s=10.0,
        flood_dropped_s=1.0,
    )
    frames = [await ser.deserialize(dtmf()) for _ in range(200)]  # no time passes
    passed = [f for f in frames if isinstance(f, InputDTMFFrame)]
    # The burst (two seconds' worth at 10 a second), plus what the refill adds meanwhile.
    assert 20 <= len(passed) < 30
    assert floods == ["flood"] and ser.guard.stats.tripped == "events"
    assert ser.guard.stats.events_dropped > 10 and ser.guard.stats.dropped_after_trip > 0


async def test_stop_is_never_dropped_by_the_guard() -> None:
    stops: list[str] = []
    ser = serializer(StreamCallbacks(on_stop=lambda: stops.append("stop")), events_per_s=1.0)
    for _ in range(3):  # the bucket is empty after two
        await ser.deserialize(dtmf())
    assert ser.guard.stats.events_dropped == 1 and not ser.guard.tripped
    await ser.deserialize(json.dumps({"event": "stop", "streamSid": SID}))
    assert stops == ["stop"] and ser.stopped


async def test_junk_counts_towards_a_flood() -> None:
    floods: list[str] = []
    ser = serializer(
        StreamCallbacks(on_flood=lambda: floods.append("flood")),
        events_per_s=10.0,
        flood_dropped_s=1.0,
    )
    for _ in range(100):
        assert await ser.deserialize("{not json") is None
    assert floods == ["flood"]
    assert ser.stats.rejected < 100  # once tripped, the rest are not even parsed
