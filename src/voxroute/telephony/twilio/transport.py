"""pipecat's FastAPI websocket transport with voxroute's own output for Twilio media streams.

`TwilioOutput` replaces pipecat's `FastAPIWebsocketOutputTransport` (and its per-call
`MediaSender`). It keeps what the pipeline relies on and changes how audio is paced:

* **One clock per worker** (`telephony.audio_clock.AudioClock`) instead of a task per call that
  does a `wait_for`, a serialize and a `sleep` for every 40 ms chunk. Audio is encoded to
  Twilio's media messages once, as it arrives (`outbound.OutboundQueue`), in Twilio's own
  20 ms frames, and released at the pace it plays, a little ahead (`LEAD_S`).
* **Order** is pipecat's: frames that must follow the audio before them (the TTS's words,
  `TTSStoppedFrame`, the LLM's response end, transport messages) are passed on when that
  audio has been sent; system frames go straight through.
* **Bot speaking frames**: `BotStartedSpeakingFrame` with the first audio sent,
  `BotStoppedSpeakingFrame` after the utterance's last (or when audio stops coming).
  pipecat's output also sends a `BotSpeakingFrame` both ways every 200 ms in between; its
  only reader here would be the call's idle timeout, so `on_speaking` is called instead
  (no frame through every processor of the pipeline).
* **Marks**: after each utterance a Twilio `mark` ("utt-N") follows its audio, so Twilio
  echoes it once that audio has played.
* **Barge-in** (`InterruptionFrame`): interruptible audio is dropped and, if anything may
  still be playing at the far end, `clear` is sent.
* **Sending**: with a media lane (`telephony.media_lane`), the clock's tick writes due media
  and messages to the socket itself while it can take them; the per-call sender task
  handles what must wait (an utterance's first frame, which announces the bot speaking;
  frames to push; a socket that is full) and everything queued behind it, so order holds.
* **Ending**: on `EndFrame` everything queued is sent and played out (the goodbye is not cut
  off), then the serializer hangs up through Twilio REST and the socket closes. On
  `CancelFrame`, at once.
* A peer that stops reading (a send that does not return in `WRITE_TIMEOUT_S`) is reported
  as a permanent error, as pipecat's output does, and the call is cancelled. A send blocks
  only once the kernel's buffers are full, which can take minutes of audio; the websocket
  keepalive (`Settings.ws_ping_*`) usually drops such a peer first (tests/calls/test_dead_peer.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from pipecat.audio.resamplers.base_audio_resampler import BaseAudioResampler
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    CancelWorkerFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    OutputTransportReadyFrame,
    StartFrame,
    SystemFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import (
    FrameDirection,
    FrameProcessor,
    FrameProcessorSetup,
)
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketClient,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

from voxroute.telephony.audio_clock import AudioClock
from voxroute.telephony.media_lane import media_lane
from voxroute.telephony.twilio.outbound import SAMPLE_RATE, Item, Kind, OutboundQueue
from voxroute.telephony.twilio.serializer import VoxrouteTwilioSerializer

__all__ = [
    "BOT_STOP_FALLBACK_S",
    "TwilioMediaTransport",
    "TwilioOutput",
]

log = logging.getLogger(__name__)

# Audio stopped coming without a TTSStoppedFrame: the bot has stopped this long after the
# last of it played (pipecat's fallback is 3 s after the last chunk was written).
BOT_STOP_FALLBACK_S = 1.0
WRITE_TIMEOUT_S = 10.0  # pipecat's `audio_out_write_timeout_secs`
END_PLAYOUT_MAX_S = 5.0  # longest wait for queued audio to play before hanging up


class TwilioOutput(FrameProcessor):
    """The pipeline's Twilio output: audio paced by the worker's clock, frames kept in order."""

    def __init__(
        self,
        *,
        transport: FastAPIWebsocketTransport,
        client: FastAPIWebsocketClient,
        serializer: VoxrouteTwilioSerializer,
        clock: AudioClock,
        on_speaking: Callable[[], None] | None = None,
        lane_send: Callable[[str], bool] | None = None,
        name: str | None = None,
    ) -> None:
        # Direct mode: a frame pushed here is processed in the pusher's task (the TTS's),
        # not queued for two tasks of ours: two wake-ups per frame, each a lap of a busy
        # loop on the way to the caller. Nothing here waits but `EndFrame`, for the queued
        # audio to play out, and after an `EndFrame` the TTS has nothing left to push.
        super().__init__(name=name, enable_direct_mode=True)
        self._on_speaking = on_speaking
        self._lane_send = lane_send
        self._transport = transport
        self._client = client
        self._serializer = serializer
        self._clock = clock
        self._queue = OutboundQueue(serializer.stream_sid)
        self._resampler: BaseAudioResampler | None = None  # only if the TTS is not at 8 kHz
        self._loop: asyncio.AbstractEventLoop | None = None
        # Released by the clock, taken by the sender task.
        self._outbox: deque[Item] = deque()
        self._ready = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._sender_busy = False  # between its wake and an empty outbox
        self._sending_since: float | None = None
        self._stall_report: asyncio.Task[None] | None = None
        self._end_reached: asyncio.Event | None = None
        self._speaking = False
        self._stop_fallback_due = False
        self.marks_sent = 0
        self.lane_sent = 0  # messages the clock wrote on the media lane itself

    # -- pipecat ------------------------------------------------------------------------
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self._start()
            await self.push_frame(OutputTransportReadyFrame(), FrameDirection.UPSTREAM)
        elif isinstance(frame, EndFrame):
            await self._end(frame)
            await self.push_frame(frame, direction)
        elif isinstance(frame, CancelFrame):
            await self._cancel(frame)
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            await self.push_frame(frame, direction)
            await self._interrupt()
        elif isinstance(frame, OutputTransportMessageUrgentFrame):
            await self._send(json.dumps(frame.message))
        elif isinstance(frame, SystemFrame) or direction is FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, OutputAudioRawFrame):
            await self._add_audio(frame)
        elif isinstance(frame, TTSStoppedFrame):
            self._queue.flush_audio()
            self.marks_sent += 1
            self._queue.add_mark(f"utt-{self.marks_sent}")
            self._enqueue(Item(Kind.FRAME, frame, frame.interruptible))
        elif isinstance(frame, OutputTransportMessageFrame):
            self._enqueue(Item(Kind.MESSAGE, json.dumps(frame.message), frame.interruptible))
        elif self._queue.idle and not self._outbox:
            await self.push_frame(frame, direction)  # nothing to wait for
        else:
            self._enqueue(Item(Kind.FRAME, frame, frame.interruptible))

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        await super().setup(setup)
        await self._client.setup(setup)  # counts the users of the socket (input and output)

    async def cleanup(self) -> None:
        await super().cleanup()  # type: ignore[no-untyped-call]
        await self._stop_sending()
        await self._client.disconnect()  # type: ignore[no-untyped-call]
        await self._transport.cleanup()  # type: ignore[no-untyped-call]

    # -- the clock's side (synchronous, every 20 ms while there is something to send) ---
    def tick(self, now: float) -> bool:
        released = self._queue.due(now)
        if released and self._lane_writable():
            released = self._send_at_once(released)
        if released:
            self._outbox.extend(released)
            self._ready.set()
        elif (
            self._speaking
            and not self._outbox
            and self._queue.idle
            and now > self._queue.play_end + BOT_STOP_FALLBACK_S
        ):
            self._stop_fallback_due = True
            self._ready.set()
        if (
            self._sending_since is not None
            and self._stall_report is None
            and now - self._sending_since > WRITE_TIMEOUT_S
        ):
            self._stall_report = self.create_task(self._report_stall(), "stalled-peer")
        return not (self._queue.idle and not self._speaking and self._sending_since is None)

    def _lane_writable(self) -> bool:
        """The clock may write itself: a lane, and nothing queued or in flight before it."""
        return (
            self._lane_send is not None
            and not self._outbox
            and not self._sender_busy
            and self._sending_since is None
        )

    def _send_at_once(self, items: list[Item]) -> list[Item]:
        """Write what the lane takes now; return the rest for the sender, in order.

        The rest starts at the first item that needs the sender task.
        """
        assert self._lane_send is not None
        for index, item in enumerate(items):
            if item.kind is Kind.MEDIA and self._speaking:
                if not self._lane_send(item.payload):
                    return items[index:]
                if self._on_speaking is not None:
                    self._on_speaking()
            elif item.kind is not Kind.MESSAGE or not self._lane_send(item.payload):
                return items[index:]
            self.lane_sent += 1
        return []

    # -- the sender task ----------------------------------------------------------------
    async def _send_loop(self) -> None:
        outbox = self._outbox
        while True:
            self._sender_busy = False
            await self._ready.wait()
            self._ready.clear()
            self._sender_busy = True
            while outbox:
                item = outbox.popleft()
                if item.kind is Kind.MEDIA:
                    await self._bot_speaks()
                    await self._send(item.payload)
                elif item.kind is Kind.MESSAGE:
                    await self._send(item.payload)
                elif item.kind is Kind.FRAME:
                    if isinstance(item.payload, TTSStoppedFrame):
                        await self._bot_stopped()  # a no-op unless its audio was sent
                    await self.push_frame(item.payload)
                elif self._end_reached is not None:  # Kind.END
                    self._end_reached.set()
            if self._stop_fallback_due:
                self._stop_fallback_due = False
                await self._bot_stopped()

    async def _send(self, text: str) -> None:
        loop = self._loop
        self._sending_since = loop.time() if loop is not None else None
        try:
            await self._client.send(text)  # logs and swallows errors; no-op once closed
        finally:
            self._sending_since = None

    async def _report_stall(self) -> None:
        await self.push_error(
            f"{self} a send to Twilio took over {WRITE_TIMEOUT_S:.0f}s; the peer has "
            "stopped reading",
            force_treat_as_permanent=True,
        )
        # Nobody hears this call any more: end it now (no goodbye can be delivered).
        await self.push_frame(
            CancelWorkerFrame(reason="the peer stopped reading"), FrameDirection.UPSTREAM
        )

    # -- bot speaking state ------------------------------------------------------------
    async def _bot_speaks(self) -> None:
        if self._on_speaking is not None:
            self._on_speaking()
        if not self._speaking:
            self._speaking = True
            await self._broadcast(BotStartedSpeakingFrame)

    async def _bot_stopped(self) -> None:
        if not self._speaking:
            return
        self._speaking = False
        await self._broadcast(BotStoppedSpeakingFrame)

    async def _broadcast(self, frame_cls: type[Frame]) -> None:
        # Both ways, as siblings (pipecat's output does the same for started/stopped).
        downstream, upstream = frame_cls(), frame_cls()
        downstream.broadcast_sibling_id, upstream.broadcast_sibling_id = upstream.id, downstream.id
        await self.push_frame(downstream)
        await self.push_frame(upstream, FrameDirection.UPSTREAM)

    # -- frames ------------------------------------------------------------------------
    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._sender is None:
            self._sender = self.create_task(self._send_loop(), "twilio-sender")

    async def _add_audio(self, frame: OutputAudioRawFrame) -> None:
        audio = frame.audio
        if frame.sample_rate != SAMPLE_RATE:  # the TTS is asked for 8 kHz; just in case
            self._resampler = self._resampler or create_stream_resampler()
            audio = await self._resampler.resample(audio, frame.sample_rate, SAMPLE_RATE)
        assert self._loop is not None
        now = self._loop.time()
        silent = self._queue.play_end <= now  # the far end has nothing left to play
        self._queue.add_audio(audio, interruptible=frame.interruptible)
        self._clock.add(self)
        if silent:  # a reply's first frames go now, not at the next tick (up to 20 ms later)
            self.tick(now)

    def _enqueue(self, item: Item) -> None:
        self._queue.add(item)
        self._clock.add(self)

    async def _interrupt(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        # Twilio holds at most what plays until `play_end`: past it there is nothing to clear.
        playing = self._queue.play_end > now or self._queue.has_audio or bool(self._outbox)
        self._queue.interrupt(now)
        kept = [item for item in self._outbox if not item.interruptible]
        self._outbox.clear()  # in place: the sender holds this deque
        self._outbox.extend(kept)
        if playing:
            await self._send(self._queue.clear_message)
        if not self._queue.has_audio:
            await self._bot_stopped()

    async def _end(self, frame: EndFrame) -> None:
        """Send and play out everything queued, then hang up and close."""
        if self._loop is not None and not self._client.is_connected:
            self._queue.interrupt(self._loop.time())  # nobody to play it to
        if self._sender is not None and self._loop is not None:
            self._queue.flush_audio()
            self._end_reached = asyncio.Event()
            self._enqueue(Item(Kind.END, interruptible=False))
            # The sender sends everything before the END; then wait for it to play.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(END_PLAYOUT_MAX_S * 4):
                    await self._end_reached.wait()
                playing = self._queue.play_end - self._loop.time()
                if playing > 0:
                    await asyncio.sleep(min(playing, END_PLAYOUT_MAX_S))
            await self._bot_stopped()
        await self._stop_sending()
        await self._hang_up(frame)

    async def _cancel(self, frame: CancelFrame) -> None:
        await self._stop_sending()
        await self._hang_up(frame)

    async def _hang_up(self, frame: EndFrame | CancelFrame) -> None:
        # The REST hang-up, once, unless suppressed (the serializer logs its failures).
        await self._serializer.serialize(frame)
        await self._client.disconnect()  # type: ignore[no-untyped-call]

    async def _stop_sending(self) -> None:
        self._clock.discard(self)
        for task in (self._sender, self._stall_report):
            if task is not None and not task.done():
                await self.cancel_task(task)
        self._sender = None


class TwilioMediaTransport(FastAPIWebsocketTransport):
    """The FastAPI websocket transport with `TwilioOutput` as its output."""

    def __init__(
        self,
        *,
        websocket: Any,
        params: FastAPIWebsocketParams,
        serializer: VoxrouteTwilioSerializer,
        clock: AudioClock,
        on_speaking: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(websocket=websocket, params=params)
        lane = media_lane(websocket)
        self._twilio_output = TwilioOutput(
            transport=self,
            client=self._client,
            serializer=serializer,
            clock=clock,
            on_speaking=on_speaking,
            lane_send=lane.send_text if lane is not None else None,
            name=self._output_name,
        )

    def output(self) -> TwilioOutput:  # type: ignore[override]
        return self._twilio_output
