"""`VoxrouteTwilioSerializer`: pipecat's Twilio serializer, completed and hardened.

Over the stock serializer it adds: strict parsing of every inbound message (bad JSON, bad
base64, oversized or unknown frames are dropped and counted, never echoed), `stop` and
`mark` handling, and refusal of anything after `stop` or for another stream (outbound
`mark`s are the output's: `transport.TwilioOutput`). Hang-up through Twilio REST uses the org's own
credentials, opened only when the hang-up is made: most calls end with the caller hanging
up and never need them, and a set-up spared the read and the decryption reaches its first
audio sooner.
"""

from __future__ import annotations

import audioop  # pipecat's own μ-law codec (pipecat.audio.utils); audioop-lts on 3.13+
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.utils import ulaw_to_pcm
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
)
from pipecat.serializers.twilio import TwilioFrameSerializer

from voxroute.telephony.inbound_guard import GuardLimits, InboundGuard
from voxroute.telephony.media import AudioSink, SecretOpener
from voxroute.telephony.twilio.protocol import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Message,
    ProtocolError,
    Start,
    Stop,
    parse_message,
)

__all__ = ["StreamCallbacks", "StreamStats", "VoxrouteTwilioSerializer"]

ULAW_BYTES_PER_S = 8000  # Twilio media: μ-law, 8 kHz, one byte a sample
# Stands in for the auth token until the hang-up opens it (pipecat requires one up front).
_UNOPENED = "unopened"

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StreamStats:
    """Counts of what a stream's serializer took in and rejected, and why."""

    media_frames: int = 0
    lane_messages: int = 0  # dealt with on the media lane, not the receive loop
    rejected: int = 0
    marks_received: int = 0
    last_rejection: str = ""
    # Distinct reasons seen (a small fixed set: `ProtocolError` messages never carry input).
    rejection_reasons: set[str] = field(default_factory=set)


@dataclass(slots=True)
class StreamCallbacks:
    """Synchronous hooks (called from the transport's receive loop; must not block)."""

    on_stop: Callable[[], None] | None = None
    on_mark: Callable[[str], None] | None = None
    # The inbound guard tripped (media far faster than real time): close the stream.
    on_flood: Callable[[], None] | None = None


class VoxrouteTwilioSerializer(TwilioFrameSerializer):
    """The Twilio serializer of pipecat, hardened: strict inbound parsing, secret opened late."""

    def __init__(
        self,
        *,
        stream_sid: str,
        call_sid: str,
        account_sid: str,
        auth_token: SecretOpener | None,
        api_base_url: str | None,
        max_message_bytes: int,
        callbacks: StreamCallbacks | None = None,
        guard_limits: GuardLimits | None = None,
        opened_at: float | None = None,
    ) -> None:
        params = TwilioFrameSerializer.InputParams(auto_hang_up=auth_token is not None)
        super().__init__(
            stream_sid,
            call_sid=call_sid,
            account_sid=account_sid,
            auth_token=_UNOPENED if auth_token is not None else None,
            base_url=api_base_url or None,
            params=params,
        )
        self.stream_sid = stream_sid
        self._open_auth_token = auth_token
        self._max_message_bytes = max_message_bytes
        self._callbacks = callbacks or StreamCallbacks()
        self.stats = StreamStats()
        # Every inbound message passes it before it reaches the call.
        self.guard = InboundGuard(guard_limits, on_trip=self._flooded, opened_at=opened_at)
        self.stopped = False
        # Set by the pipeline: caller audio (PCM) goes here instead of into a pipecat frame.
        self.audio_sink: AudioSink | None = None

    def enable_hang_up(self, auth_token: SecretOpener) -> None:
        """Hang up through Twilio REST at the end, with the token `auth_token` opens then."""
        self._open_auth_token = auth_token
        self._auth_token = _UNOPENED
        self._params.auto_hang_up = True

    async def _hang_up_call(self) -> None:
        """Hang up through Twilio REST as pipecat does, with the token opened just for it."""
        if self._open_auth_token is None:
            return
        try:
            # Revealed only here, into the serializer that performs the REST hang-up.
            self._auth_token = (await self._open_auth_token()).reveal()
        except Exception as exc:  # noqa: BLE001 (the call is ending either way)
            log.warning(
                "media stream %s: no Twilio hang-up, the account's token could not be opened (%s)",
                self.stream_sid,
                type(exc).__name__,
            )
            return
        try:
            await super()._hang_up_call()  # type: ignore[no-untyped-call]
        finally:
            self._auth_token = _UNOPENED

    def suppress_hangup(self) -> None:
        """The caller already hung up: don't call Twilio REST on the way out."""
        self._hangup_attempted = True

    def _flooded(self, guard: InboundGuard) -> None:
        stats = guard.stats
        log.warning(
            "media stream %s: closing, %s arrive far faster than real time "
            "(%.1f s of audio and %d messages dropped)",
            self.stream_sid,
            "messages" if stats.tripped == "events" else "audio frames",
            stats.audio_dropped_s,
            stats.events_dropped,
        )
        if self._callbacks.on_flood is not None:
            self._callbacks.on_flood()

    def _reject(self, reason: str) -> None:
        self.guard.admit_event()  # junk counts towards a flood like any other message
        stats = self.stats
        stats.rejected += 1
        stats.last_rejection = reason
        # Every new kind of problem once, then a reminder every 100 drops: a misbehaving
        # peer cannot flood the log, and no kind of bad frame goes unreported.
        if reason not in stats.rejection_reasons or stats.rejected % 100 == 0:
            stats.rejection_reasons.add(reason)
            log.info(
                "media stream %s: dropped a message (%s; %d dropped so far)",
                self.stream_sid,
                reason,
                stats.rejected,
            )

    async def deserialize(self, data: str | bytes) -> Frame | None:
        message = self._parse(data)
        if message is None:
            return None
        if isinstance(message, Media):
            return await self._media(message)
        return self._control(message)

    def take_message(self, text: str) -> bool:
        """The media lane's sink (`telephony.media_lane`): deal at once with what makes no frame.

        Deals, as `deserialize` would, with every message that makes no pipeline frame (media,
        marks, stop, bad input); leaves the rest (False: DTMF) to the transport's receive loop.
        Only with an `audio_sink` and no resampling (the pipeline at Twilio's 8 kHz).
        """
        if self.audio_sink is None or self._twilio_sample_rate != self._sample_rate:
            return False
        message = self._parse(text)  # None: rejected and counted
        if isinstance(message, Dtmf):
            return False
        self.stats.lane_messages += 1
        if isinstance(message, Media):
            if self._accept_media(message):
                self.audio_sink(audioop.ulaw2lin(message.payload, 2))
        elif message is not None:
            self._control(message)
        return True

    def _parse(self, data: str | bytes) -> Message | None:
        if self.guard.tripped:  # the stream is being closed: not even parsed
            self.guard.drop_after_trip()
            return None
        if self.stopped:
            self._reject("message after stop")
            return None
        try:
            return parse_message(data, max_bytes=self._max_message_bytes)
        except ProtocolError as exc:
            self._reject(str(exc))
            return None

    def _control(self, message: Message) -> Frame | None:
        """Everything but media."""
        if isinstance(message, (Start, Connected)):
            self._reject(f"unexpected {type(message).__name__.lower()} mid-stream")
            return None
        if message.stream_sid != self.stream_sid:
            self._reject("unknown streamSid")
            return None
        if isinstance(message, Stop):  # once per stream (anything after is refused): never dropped
            self.stopped = True
            self.suppress_hangup()
            if self._callbacks.on_stop is not None:
                self._callbacks.on_stop()
        elif not self.guard.admit_event():
            return None
        elif isinstance(message, Mark):
            self.stats.marks_received += 1
            if self._callbacks.on_mark is not None:
                self._callbacks.on_mark(message.name)
        elif isinstance(message, Dtmf):
            return InputDTMFFrame(KeypadEntry(message.digit))
        return None

    def _accept_media(self, message: Media) -> bool:
        if message.stream_sid != self.stream_sid:
            self._reject("unknown streamSid")
            return False
        if not message.payload:
            return False
        self.stats.media_frames += 1
        if self.guard.admit_audio(len(message.payload) / ULAW_BYTES_PER_S):
            return True
        if self.guard.stats.audio_dropped_frames == 1:  # once; the end of the call has all
            log.info(
                "media stream %s: audio arrives faster than real time; dropping the excess",
                self.stream_sid,
            )
        return False

    async def _media(self, message: Media) -> Frame | None:
        if not self._accept_media(message):
            return None
        pcm = await ulaw_to_pcm(
            message.payload, self._twilio_sample_rate, self._sample_rate, self._input_resampler
        )
        if not pcm:
            return None
        if self.audio_sink is not None:
            self.audio_sink(pcm)
            return None
        return InputAudioRawFrame(audio=pcm, num_channels=1, sample_rate=self._sample_rate)
