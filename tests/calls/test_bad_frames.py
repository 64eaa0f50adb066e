"""Bad frames on a live media socket (DESIGN §9): dropped with a clear log line that echoes
nothing, while the same call and another concurrent call keep working."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from sqlalchemy import select

from tests.calls.harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    FAST,
    HELLO,
    NUMBER,
    ORG_KEYS,
    Env,
)
from tests.calls.wire import open_line
from voxroute.db.models import Call
from voxroute.softphone import place_call
from voxroute.softphone.audio import SILENCE_FRAME

OTHER_SID = "MZ" + "0" * 32
NOT_BASE64 = "!!not*base64!!"


def _bad_frames(stream_sid: str, max_bytes: int) -> list[str | bytes]:
    media = {"event": "media", "streamSid": stream_sid}
    return [
        '{"event": "media", "streamSid": ',  # malformed JSON
        json.dumps({**media, "media": {"payload": NOT_BASE64}}),
        json.dumps({**media, "media": {"payload": "A" * max_bytes}}),  # oversized
        json.dumps({**media, "streamSid": OTHER_SID, "media": {"payload": "/w=="}}),
        json.dumps({"event": "mark", "streamSid": OTHER_SID, "mark": {"name": "x"}}),
        json.dumps({"event": "no-such-event", "streamSid": stream_sid}),
        b"\x00\x01 binary",
    ]


async def _call_row(env: Env, call_sid: str) -> Call:
    async with env.factory() as s:
        return (await s.execute(select(Call).where(Call.provider_call_id == call_sid))).scalar_one()


async def test_bad_frames_are_dropped_and_logged_while_calls_keep_working(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voxroute")
    max_bytes = env.runtime.settings.max_ws_message_bytes
    good = asyncio.create_task(
        place_call(env.base, NUMBER, CALLER, ACCOUNT_SID, AUTH_TOKEN, [HELLO], **FAST)
    )
    async with open_line(env.base) as bad:
        for raw in _bad_frames(bad.stream_sid, max_bytes):
            assert await bad.send(raw)
        await bad.wait_until_quiet(0.6, within_s=15)  # the first message, despite the junk
        heard_before = len(bad.audio)
        bad.play(HELLO)
        # The bad line's own call still understands the caller and answers.
        assert await bad.wait_for_audio(1.0, within_s=20), "no reply on the bad line"
        assert len(bad.audio) > heard_before
        stop = {"accountSid": ACCOUNT_SID, "callSid": bad.call_sid}
        await bad.send(bad.message("stop", stop=stop))
        for _ in range(3):  # frames after stop
            await bad.send(bad.media(SILENCE_FRAME))
        await asyncio.wait_for(bad.closed.wait(), 10)

    result = await asyncio.wait_for(good, 60)
    assert result.ok and result.reply_latency_ms, result  # the concurrent call got its reply
    assert result.audio_received_s > 1.0
    for _ in range(100):
        if len(env.runtime.reports) == 2:
            break
        await asyncio.sleep(0.1)
    assert {r.end_reason for r in env.runtime.reports} == {"caller_hung_up"}

    bad_row = await _call_row(env, bad.call_sid)
    assert bad_row.end_reason == "caller_hung_up"
    assert bad_row.latency["rejected_messages"] >= 7
    good_row = await _call_row(env, result.call_sid)
    assert good_row.latency["rejected_messages"] == 0

    dropped = [r.getMessage() for r in caplog.records if "dropped a message" in r.getMessage()]
    for reason in (
        "not valid JSON",
        "not valid base64",
        "message is too large",
        "unknown streamSid",
        "unknown event",
        "binary messages",
        "message after stop",
    ):
        assert any(reason in line and bad.stream_sid in line for line in dropped), reason
    everything = caplog.text
    for secret in (AUTH_TOKEN, *ORG_KEYS.values(), NOT_BASE64, "A" * 64):
        assert secret not in everything
