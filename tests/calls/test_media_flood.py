"""A media flood over a real websocket (issue 21): maximum-size frames far faster than real
time are dropped and counted, the stream is closed as `media_flood`, and a concurrent
well-behaved call completes normally."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from tests.calls.harness import ACCOUNT_SID, AUTH_TOKEN, CALLER, FAST, HELLO, NUMBER, Env
from tests.calls.wire import Line, open_line
from voxroute.db.models import Call
from voxroute.metrics import Metrics
from voxroute.softphone import place_call
from voxroute.telephony.twilio.protocol import MAX_MEDIA_PAYLOAD_BYTES

FLOOD_LIMIT = 5000  # frames (83 minutes of audio): the test's own bound, never reached


async def _row(env: Env, call_sid: str) -> Call:
    for _ in range(200):
        async with env.factory() as s:
            row = (
                await s.execute(select(Call).where(Call.provider_call_id == call_sid))
            ).scalar_one()
        if row.status == "ended":
            return row
        await asyncio.sleep(0.05)
    return row


async def _flood(line: Line, message: str) -> int:
    """Send until the server closes the socket; the number of frames it took."""
    for sent in range(FLOOD_LIMIT):
        if not await line.send(message):
            return sent
        if sent % 20 == 0:
            await asyncio.sleep(0)  # let the receiver see the close
        if line.closed.is_set():
            return sent
    return FLOOD_LIMIT


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return value or 0.0


async def test_a_media_flood_is_dropped_counted_and_closed_while_another_call_completes(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voxroute")
    good = asyncio.create_task(
        place_call(env.base, NUMBER, CALLER, ACCOUNT_SID, AUTH_TOKEN, [HELLO, HELLO], **FAST)
    )
    async with open_line(env.base, send_audio=False) as bad:
        await bad.wait_for_audio(0.5, within_s=20)  # the pipeline is up: the greeting plays
        frame = bad.media(os.urandom(MAX_MEDIA_PAYLOAD_BYTES))  # one second of audio each
        sent = await _flood(bad, frame)
        await asyncio.wait_for(bad.closed.wait(), 10)
        close_code = bad.ws.close_code
    assert sent < FLOOD_LIMIT, "the server never closed the flooding stream"
    # 1008 (policy violation), unless the reset of a close with the flood still unread
    # reached the client before the close frame did (1006).
    assert close_code in (1008, 1006)

    result = await asyncio.wait_for(good, 60)
    assert result.ok and len(result.reply_latency_ms) == 2, result  # both turns answered
    good_row = await _row(env, result.call_sid)
    assert good_row.end_reason == "caller_hung_up"
    assert good_row.latency["inbound"]["audio_dropped_frames"] == 0

    bad_row = await _row(env, bad.call_sid)
    assert bad_row.end_reason == "media_flood"
    inbound = bad_row.latency["inbound"]
    assert inbound["tripped"] == "audio"
    assert inbound["audio_dropped_frames"] >= 5  # more than 5 s of audio dropped
    assert inbound["audio_admitted_s"] <= 4.0  # the burst and real time, nothing more
    assert any("flooded" in r.getMessage() for r in caplog.records)

    # The drops reach the worker's Prometheus counters (closed label set) at the call's end.
    metrics = Metrics()
    for report in env.runtime.reports:
        metrics.call_ended(report)
    registry = metrics.registry
    assert _sample(registry, "voxroute_calls_ended_total", reason="media_flood") == 1
    assert (
        _sample(registry, "voxroute_inbound_dropped_total", kind="audio")
        == (inbound["audio_dropped_frames"])
    )
    assert _sample(registry, "voxroute_inbound_audio_dropped_seconds_total") >= 5.0


async def test_a_dtmf_flood_closes_the_stream(env: Env) -> None:
    async with open_line(env.base) as bad:
        await bad.wait_for_audio(0.5, within_s=20)
        digit = bad.message("dtmf", dtmf={"track": "inbound_track", "digit": "5"})
        sent = await _flood(bad, digit)
        await asyncio.wait_for(bad.closed.wait(), 10)
    assert sent < FLOOD_LIMIT
    row = await _row(env, bad.call_sid)
    assert row.end_reason == "media_flood"
    assert row.latency["inbound"]["tripped"] == "events"
    assert json.dumps(row.latency["inbound"])  # stored as plain JSON
