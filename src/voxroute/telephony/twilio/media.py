"""`TwilioMediaSession`: a Twilio Media Streams websocket as a `telephony.media.MediaSession`.

Built by the stream route once the call's token is claimed (`stream.py`), run by the call
core. Inbound messages go to `VoxrouteTwilioSerializer` (its `InboundGuard` first), off
ASGI's receive queue when the server offers a media lane (`telephony.media_lane`); the
pipeline's ends are `TwilioMediaTransport`'s input and `TwilioOutput`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams

from voxroute.db.models import Call
from voxroute.settings import Settings
from voxroute.telephony.audio_clock import AudioClock
from voxroute.telephony.inbound_guard import GuardLimits, InboundGuard
from voxroute.telephony.media import (
    AudioSink,
    CallIdentity,
    CloseReason,
    MediaEvents,
    MediaStart,
    SecretOpener,
)
from voxroute.telephony.media_lane import MediaLane, media_lane
from voxroute.telephony.twilio.outbound import SAMPLE_RATE
from voxroute.telephony.twilio.protocol import Start
from voxroute.telephony.twilio.serializer import StreamCallbacks, VoxrouteTwilioSerializer
from voxroute.telephony.twilio.transport import TwilioMediaTransport

__all__ = ["CARRIER", "TwilioMediaSession"]

log = logging.getLogger(__name__)
CARRIER = "twilio"
# Websocket close codes (RFC 6455 §7.4.1) for a stream closed before its pipeline ran.
_CLOSE_CODES = {CloseReason.NORMAL: 1000, CloseReason.REFUSED: 1008, CloseReason.TRY_LATER: 1013}


class TwilioMediaSession:
    """A Twilio Media Streams websocket as a carrier-neutral `MediaSession`."""

    def __init__(
        self,
        websocket: WebSocket,
        start: Start,
        call: Call,
        *,
        settings: Settings,
        clock: AudioClock,
        opened_at: float | None = None,
    ) -> None:
        self._ws = websocket
        self._clock = clock
        self._start = MediaStart(
            carrier=CARRIER,
            stream_id=start.stream_sid,
            carrier_call_id=start.call_sid,
            account=start.account_sid,
            custom_parameters=dict(start.custom_parameters),
            sample_rate=SAMPLE_RATE,
        )
        self._identity = CallIdentity(
            call_id=call.id,
            carrier_call_id=call.provider_call_id,
            account=start.account_sid,
            from_number=call.from_number,
            to_number=call.to_number,
        )
        self._events: MediaEvents | None = None
        self._lane: MediaLane | None = media_lane(websocket)
        self._attached = False
        # Built now: its guard counts from the stream's opening (audio sent during set-up).
        self._serializer = VoxrouteTwilioSerializer(
            stream_sid=start.stream_sid,
            call_sid=start.call_sid,
            account_sid=start.account_sid,
            auth_token=None,  # `connect` enables the REST hang-up when the number has a token
            api_base_url=settings.twilio_api_base_url or None,
            max_message_bytes=settings.max_ws_message_bytes,
            callbacks=StreamCallbacks(on_stop=self._on_stop, on_flood=self._on_flood),
            guard_limits=GuardLimits.from_settings(settings),
            opened_at=time.monotonic() if opened_at is None else opened_at,
        )
        self._transport: TwilioMediaTransport | None = None

    # -- MediaSession ---------------------------------------------------------------------
    @property
    def start(self) -> MediaStart:
        return self._start

    @property
    def identity(self) -> CallIdentity:
        return self._identity

    @property
    def guard(self) -> InboundGuard:
        return self._serializer.guard

    def connect(
        self, *, audio_sink: AudioSink, events: MediaEvents, hang_up_secret: SecretOpener | None
    ) -> TwilioMediaTransport:
        if self._transport is not None:
            raise RuntimeError("the media session is already connected")
        self._events = events
        serializer = self._serializer
        if hang_up_secret is not None:  # a web call has no Twilio account to hang up with
            serializer.enable_hang_up(hang_up_secret)
        serializer.audio_sink = audio_sink
        transport = TwilioMediaTransport(
            websocket=self._ws,
            serializer=serializer,
            clock=self._clock,
            on_speaking=events.speaking,
            params=FastAPIWebsocketParams(
                # Caller audio never enters pipecat's input (the serializer's `audio_sink`);
                # enabled, its idle audio task would still wake on a 0.5 s `wait_for` forever.
                audio_in_enabled=False,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=serializer,
                # Twilio sends no Origin header; never inherit PIPECAT_ALLOWED_ORIGINS.
                allowed_origins=[],
            ),
        )

        @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
        async def _disconnected(_transport: Any, _ws: Any) -> None:
            events.caller_hung_up()

        self._transport = transport
        return transport

    def attach(self) -> None:
        # Media messages straight from the socket into the caller audio path, off ASGI's
        # receive queue; the rest (DTMF) still take the transport's receive loop.
        if self._lane is not None and not self._attached:
            self._attached = True
            self._lane.attach(self._serializer.take_message)

    def detach(self) -> None:
        if self._lane is not None and self._attached:
            self._attached = False
            self._lane.detach()

    def suppress_hang_up(self) -> None:
        self._serializer.suppress_hangup()

    async def close(self, reason: CloseReason) -> None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the peer closed first
            await self._ws.close(code=_CLOSE_CODES[reason])

    def stats(self) -> dict[str, Any]:
        stats = self._serializer.stats
        found: dict[str, Any] = {
            "rejected_messages": stats.rejected,
            "media_frames": stats.media_frames,
            "lane_messages": stats.lane_messages,
            "inbound": self._serializer.guard.stats.as_dict(),
        }
        if self._transport is not None:
            found["lane_sent"] = self._transport.output().lane_sent
        return found

    # -- the serializer's hooks -------------------------------------------------------------
    def _on_stop(self) -> None:
        if self._events is not None:
            self._events.caller_hung_up()

    def _on_flood(self) -> None:
        if self._events is not None:
            self._events.flooded()
        if self._lane is not None:  # else the pipeline's cancel closes the socket
            self._lane.abort(_CLOSE_CODES[CloseReason.REFUSED], "media flood")
