"""The media websocket up to the `start` frame, then the call core.

Read `start`, claim the call by its token, build the call's `TwilioMediaSession` and hand
it to the call core (`telephony.media.CallCore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.calls.host import CallHost
from voxroute.db.models import Call
from voxroute.db.transactions import run_write
from voxroute.errors import CallTokenInvalid, TelephonyError
from voxroute.telephony.media import CallCore
from voxroute.telephony.twilio.media import TwilioMediaSession
from voxroute.telephony.twilio.protocol import Connected, ProtocolError, Start, parse_message
from voxroute.telephony.twilio.tokens import consume_call_token

__all__ = ["POLICY_VIOLATION", "StreamRejected", "read_start", "serve_media_stream"]

log = logging.getLogger(__name__)
POLICY_VIOLATION = 1008
START_TIMEOUT_S = 10.0


class StreamRejected(TelephonyError):
    """The stream never presented a valid `start`."""

    code = "stream_rejected"


async def read_start(websocket: WebSocket, *, max_bytes: int) -> Start:
    """Read `connected` (optional) then `start`; anything else first is a protocol error."""
    for _ in range(2):
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise StreamRejected("closed before start")
        raw = message.get("text")
        if raw is None:
            raise StreamRejected("binary message before start")
        try:
            parsed = parse_message(raw, max_bytes=max_bytes)
        except ProtocolError as exc:
            raise StreamRejected(str(exc)) from exc
        if isinstance(parsed, Start):
            return parsed
        if not isinstance(parsed, Connected):
            raise StreamRejected("expected start")
    raise StreamRejected("no start")


async def serve_media_stream(websocket: WebSocket, runtime: CallHost, call_core: CallCore) -> None:
    """Accept a media websocket, claim its call by the `start` token, hand it to the call core."""
    await websocket.accept()
    try:
        start = await asyncio.wait_for(
            read_start(websocket, max_bytes=runtime.settings.max_ws_message_bytes),
            timeout=START_TIMEOUT_S,
        )
        call = await run_write(runtime.session_factory, partial(_claim, start))
    except (StreamRejected, CallTokenInvalid, TimeoutError) as exc:
        log.info("media stream refused: %s", type(exc).__name__)
        await _close(websocket)
        return
    except WebSocketDisconnect:
        return
    except SQLAlchemyError:
        log.exception("media stream refused: database error")
        await _close(websocket, code=1011)
        return
    media = TwilioMediaSession(
        websocket, start, call, settings=runtime.settings, clock=runtime.audio_clock
    )
    await call_core(call, media)


async def _claim(start: Start, session: AsyncSession) -> Call:
    """The call the stream's token admits, claimed once (a replayed token is refused)."""
    call = await consume_call_token(session, start.custom_parameters.get("call_token"))
    if call.provider_call_id != start.call_sid:
        raise CallTokenInvalid("token belongs to another call")  # rolls the claim back
    return call


async def _close(websocket: WebSocket, code: int = POLICY_VIOLATION) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # already closed by the peer
        await websocket.close(code=code)
