"""The Twilio webhook and the media websocket, over a real uvicorn server."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.calls.harness import ACCOUNT_SID, AUTH_TOKEN, CALLER, NUMBER, running_server, seed
from voxroute.db.base import utcnow
from voxroute.db.models import Call
from voxroute.telephony.twilio.signature import compute_signature

Factory = async_sessionmaker[AsyncSession]


def _params(call_sid: str = "CA" + "1" * 32, to: str = NUMBER, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "From": CALLER,
        "To": to,
        "CallStatus": "ringing",
        **extra,
    }


async def _post(
    base: str,
    params: dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    signature: str | None = "compute",
    path: str = "/telephony/twilio/voice",
    signed_url: str | None = None,
) -> tuple[int, str]:
    url = base + path
    headers = {}
    if signature == "compute":
        headers["X-Twilio-Signature"] = compute_signature(token, signed_url or url, params)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    async with aiohttp.ClientSession() as http, http.post(url, data=params, headers=headers) as r:
        return r.status, await r.text()


def _stream(twiml: str) -> tuple[str, str]:
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None
    (param,) = stream.findall("Parameter")
    return str(stream.get("url")), str(param.get("value"))


async def test_signed_webhook_answers_a_stream_with_a_single_use_token(
    session_factory: Factory,
) -> None:
    await seed(session_factory)
    async with running_server(session_factory) as (base, _):
        status, body = await _post(base, _params())
    assert status == 200
    url, token = _stream(body)
    assert url == base.replace("http://", "ws://") + "/telephony/twilio/stream"
    assert len(token) >= 40
    async with session_factory() as s:
        call = (await s.execute(select(Call))).scalar_one()
    assert call.status == "ringing" and call.call_token_hash and token not in call.call_token_hash


async def test_default_port_in_the_signed_url_is_tolerated(session_factory: Factory) -> None:
    await seed(session_factory)
    async with running_server(
        session_factory,
    ) as (base, _):
        status, _ = await _post(base, _params())
    assert status == 200


@pytest.mark.parametrize("signature", [None, "forged", "compute-other-token"])
async def test_forged_or_missing_signature_gets_403_and_no_stream(
    session_factory: Factory, signature: str | None
) -> None:
    await seed(session_factory)
    async with running_server(session_factory) as (base, _):
        if signature == "compute-other-token":
            status, body = await _post(base, _params(), token="someone-elses-token")
        else:
            status, body = await _post(base, _params(), signature=signature)
    assert status == 403 and "<Stream" not in body
    async with session_factory() as s:
        assert (await s.execute(select(Call))).first() is None


async def test_unknown_number_gets_403(session_factory: Factory) -> None:
    await seed(session_factory)
    async with running_server(session_factory) as (base, _):
        status, body = await _post(base, _params(to="+15550009999"))
    assert status == 403 and "<Stream" not in body


async def test_wrong_account_sid_gets_403(session_factory: Factory) -> None:
    await seed(session_factory)
    async with running_server(session_factory) as (base, _):
        status, _ = await _post(base, _params(AccountSid="AC" + "9" * 32))
    assert status == 403


async def test_a_replayed_webhook_creates_no_second_call(session_factory: Factory) -> None:
    await seed(session_factory)
    async with running_server(session_factory) as (base, _):
        first = await _post(base, _params())
        second = await _post(base, _params())
    assert first[0] == 200 and "<Stream" in first[1]
    assert second[0] == 200 and "<Hangup/>" in second[1]
    async with session_factory() as s:
        assert len((await s.execute(select(Call))).all()) == 1


async def test_status_callback_is_idempotent_and_monotonic(session_factory: Factory) -> None:
    await seed(session_factory)
    async with running_server(session_factory) as (base, _):
        await _post(base, _params())
        path = "/telephony/twilio/status"
        done = await _post(base, _params(CallStatus="completed"), path=path)
        again = await _post(base, _params(CallStatus="completed"), path=path)
        late = await _post(base, _params(CallStatus="ringing"), path=path)
        forged = await _post(base, _params(CallStatus="completed"), path=path, signature="x")
    assert [done[0], again[0], late[0], forged[0]] == [204, 204, 204, 403]
    async with session_factory() as s:
        call = (await s.execute(select(Call))).scalar_one()
    assert call.status == "ended" and call.end_reason == "telephony_completed:completed"


def _start(token: str | None, call_sid: str = "CA" + "1" * 32) -> str:
    params = {"call_token": token} if token is not None else {}
    return json.dumps(
        {
            "event": "start",
            "streamSid": "MZ1",
            "start": {
                "streamSid": "MZ1",
                "callSid": call_sid,
                "accountSid": ACCOUNT_SID,
                "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


async def _closed_with(url: str, *messages: str) -> int | None:
    async with connect(url) as ws:
        for message in messages:
            await ws.send(message)
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            return ws.close_code


@pytest.mark.parametrize("case", ["missing", "unknown", "expired", "garbage-first", "other-call"])
async def test_a_stream_without_a_valid_call_token_is_closed(
    session_factory: Factory, case: str
) -> None:
    await seed(session_factory)
    async with running_server(session_factory) as (base, _):
        _, body = await _post(base, _params())
        url, token = _stream(body)
        if case == "expired":
            async with session_factory() as s:
                await s.execute(
                    update(Call).values(call_token_expires_at=utcnow() - timedelta(seconds=1))
                )
                await s.commit()
        first = {
            "missing": _start(None),
            "unknown": _start("not-the-token"),
            "expired": _start(token),
            "garbage-first": "{nope",
            "other-call": _start(token, call_sid="CA" + "2" * 32),
        }[case]
        code = await _closed_with(url, json.dumps({"event": "connected"}), first)
    assert code == 1008
    async with session_factory() as s:
        call = (await s.execute(select(Call))).scalar_one()
    assert call.status == "ringing" and call.call_token_used_at is None


async def test_a_reused_call_token_is_refused(session_factory: Factory) -> None:
    await seed(session_factory)
    async with running_server(session_factory) as (base, runtime):
        _, body = await _post(base, _params())
        url, token = _stream(body)
        # First use: no stages configured, so the call is consumed and refused at set-up.
        await _closed_with(url, _start(token))
        second = await _closed_with(url, _start(token))
    assert second == 1008
    async with session_factory() as s:
        call = (await s.execute(select(Call))).scalar_one()
    assert call.call_token_used_at is not None and call.status == "ended"
    assert call.end_reason == "key_not_found"


async def test_registered_and_unknown_numbers_are_refused_alike_without_a_signature(
    session_factory: Factory,
) -> None:
    """An anonymous caller cannot tell which numbers are registered."""
    await seed(session_factory)
    async with running_server(session_factory) as (base, _):
        answers = [
            await _post(base, _params(to=to), signature=signature)
            for to in (NUMBER, "+15559990000")
            for signature in (None, "forged", "compute")
            if not (to == NUMBER and signature == "compute")
        ]
        for path in ("/telephony/twilio/status",):
            answers.append(await _post(base, _params(), signature=None, path=path))
            answers.append(await _post(base, _params(call_sid="CA" + "9" * 32), path=path))
    assert set(answers) == {(403, "forbidden")}, answers
