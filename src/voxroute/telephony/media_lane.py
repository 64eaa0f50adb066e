"""A synchronous lane for media messages beside ASGI's receive queue.

Through ASGI, every inbound websocket message costs a queue put, uvicorn's pause and
resume of the socket's reads (it pauses after each queued message until the app has
taken it), a wake of the app's receive task and starlette's and pipecat's receive layers:
at 50 Twilio `media` messages a second per call, the largest steady cost of a worker
after the frame parsing itself.

`MediaLaneProtocol` is uvicorn's websockets-sansio protocol with one addition: each
connection offers a `MediaLane` in its ASGI scope (`scope["extensions"][LANE_EXTENSION]`).
Once the app attaches a sink to it, every complete text message is offered to the sink
first, synchronously, as it is parsed off the socket; the sink returns True if it has
dealt with the message, else the message takes the ASGI queue as usual (the Twilio
serializer's sink takes everything but DTMF, which makes a pipeline frame). Without the
protocol (another server, uvicorn's other implementations) no lane is offered and
everything takes the ASGI queue: same behaviour, more work.

`MediaLane.abort` closes the connection at once (the inbound guard's answer to a flood).

The lane also sends: `MediaLane.send_text` writes a text message to the socket at once when
the connection can take it without waiting (handshake done, not closing, the transport
below its high-water mark); otherwise it returns False and the caller uses the ASGI send,
which waits for the buffer to drain. The Twilio output sends its paced media this way from
the audio clock's tick, without its sender task or starlette's and ASGI's send layers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

__all__ = ["LANE_EXTENSION", "MediaLane", "MediaLaneProtocol", "TextSink", "media_lane"]

log = logging.getLogger(__name__)

LANE_EXTENSION = "voxroute.media_lane"
TextSink = Callable[[str], bool]  # True: the message was dealt with (consumed)


class MediaLane:
    """The app's end of the lane: attach a sink once the stream has started; send text."""

    __slots__ = ("_protocol", "sent", "sink", "taken")

    def __init__(self, protocol: MediaLaneProtocol) -> None:
        self._protocol = protocol
        self.sink: TextSink | None = None
        self.taken = 0  # messages the sink consumed
        self.sent = 0  # messages sent by `send_text`

    def send_text(self, text: str) -> bool:
        """Send now if the socket takes it without waiting, as uvicorn's `websocket.send` would.

        False (nothing sent) otherwise: the caller falls back to the ASGI send.
        """
        protocol = self._protocol
        if (
            protocol.disconnected
            or protocol.close_sent
            or not protocol.handshake_complete
            or protocol.initial_response is not None
            or not protocol.writable.is_set()
            or protocol.transport.is_closing()
        ):
            return False
        try:
            protocol.conn.send_text(text.encode())
        except InvalidState:
            return False
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        self.sent += 1
        return True

    def abort(self, code: int = 1008, reason: str = "") -> None:
        """Close now: a close frame if the handshake is done, then the transport.

        Without waiting for the peer's close reply: a flooding peer may never read it, and
        reading its flood until a close timeout costs the worker's CPU.
        """
        protocol = self._protocol
        self.sink = None
        if protocol.transport.is_closing():
            return
        if protocol.handshake_complete and not protocol.close_sent:
            try:
                protocol.conn.send_close(code, reason)
            except InvalidState:
                pass
            else:
                protocol.transport.write(b"".join(protocol.conn.data_to_send()))
            protocol.close_sent = True
        protocol.transport.close()  # stops reading at once; connection_lost tells the app

    def attach(self, sink: TextSink) -> None:
        self.sink = sink

    def detach(self) -> None:
        self.sink = None


def media_lane(websocket: WebSocket) -> MediaLane | None:
    """The connection's lane, if the server offers one."""
    lane = websocket.scope.get("extensions", {}).get(LANE_EXTENSION)
    return lane if isinstance(lane, MediaLane) else None


class MediaLaneProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, offering each connection a `MediaLane`."""

    lane: MediaLane | None = None

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # refused handshakes build no scope
            # The app's task is created but has not run yet: it sees the lane.
            self.lane = MediaLane(self)
            scope["extensions"][LANE_EXTENSION] = self.lane

    def send_receive_event_to_app(self) -> None:
        lane = self.lane
        sink = lane.sink if lane is not None else None
        if sink is not None and self.curr_msg_data_type == "text" and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            try:
                text = data.decode()
            except UnicodeDecodeError:
                text = None  # uvicorn's own path reports it and closes with 1007
            if text is not None and self._offer(sink, text):
                assert lane is not None
                lane.taken += 1
                self.frames = []
                return
        super().send_receive_event_to_app()

    def _offer(self, sink: TextSink, text: str) -> bool:
        try:
            return sink(text)
        except Exception:
            # A sink must not fail; if it does, the message is dropped (never handled twice)
            # and the connection lives on, as a rejected frame would.
            log.exception("media lane sink failed; message dropped")
            return True
