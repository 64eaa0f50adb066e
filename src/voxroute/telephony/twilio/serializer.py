"""`VoxrouteTwilioSerializer`: pipecat's Twilio serializer, completed and hardened.

Over the stock serializer it adds: strict parsing of every inbound message (bad JSON, bad
base64, oversized or unknown frames are dropped and counted, never echoed), `stop` and
`mark` handling, and refusal of anything after `stop` or for another stream (outbound
`mark`s are the output's: `transport.TwilioOutput`). Hang-up through Twilio REST uses the org's own
credentials, passed per call.
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
from voxroute.vault.secret import Secret

__all__ = [
    "AudioSink",
    "StreamCallbacks",
    "StreamStats",
    "VoxrouteTwilioSerializer",
]

AudioSink = Callable[[bytes], None]  # caller audio, PCM at the pipeline rate; must not block

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StreamStats:
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
    on_rejected: Callable[[str], None] | None = None


class VoxrouteTwilioSerializer(TwilioFrameSerializer):
    def __init__(
        self,
        *,
        stream_sid: str,
        call_sid: str,
        account_sid: str,
        auth_token: Secret | None,
        api_base_url: str | None,
        max_message_bytes: int,
        callbacks: StreamCallbacks | None = None,
    ) -> None:
        params = TwilioFrameSerializer.InputParams(auto_hang_up=auth_token is not None)
        super().__init__(
            stream_sid,
            call_sid=call_sid,
            account_sid=account_sid,
            # Revealed only here, into the serializer that performs the REST hang-up.
            auth_token=auth_token.reveal() if auth_token is not None else None,
            base_url=api_base_url or None,
            params=params,
        )
        self.stream_sid = stream_sid
        self._max_message_bytes = max_message_bytes
        self._callbacks = callbacks or StreamCallbacks()
        self.stats = StreamStats()
        self.stopped = False
        # Set by the pipeline: caller audio (PCM) goes here instead of into a pipecat frame.
        self.audio_sink: AudioSink | None = None

    def suppress_hangup(self) -> None:
        """The caller already hung up: don't call Twilio REST on the way out."""
        self._hangup_attempted = True

    def _reject(self, reason: str) -> None:
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
        if self._callbacks.on_rejected is not None:
            self._callbacks.on_rejected(reason)

    async def deserialize(self, data: str | bytes) -> Frame | None:
        message = self._parse(data)
        if message is None:
            return None
        if isinstance(message, Media):
            return await self._media(message)
        return self._control(message)

    def take_message(self, text: str) -> bool:
        """The media lane's sink (`telephony.media_lane`): deal at once, as `deserialize`
        would, with every message that makes no pipeline frame (media, marks, stop, bad
        input); leave the rest (False: DTMF) to the transport's receive loop. Only with an
        `audio_sink` and no resampling (the pipeline at Twilio's 8 kHz)."""
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
        if isinstance(message, Stop):
            self.stopped = True
            self.suppress_hangup()
            if self._callbacks.on_stop is not None:
                self._callbacks.on_stop()
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
        return True

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
