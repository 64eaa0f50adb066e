"""pipecat's FastAPI websocket transport with an output fitted to Twilio media streams.

`TwilioOutput` differs from pipecat's `FastAPIWebsocketOutputTransport` in three ways:

* **Marks.** After each bot utterance (`TTSStoppedFrame`) it queues a Twilio `mark` behind
  the utterance's audio, so Twilio echoes it once that audio has played. A separate
  processor before the output used to do this, at the cost of one more queue hop for
  every frame the TTS emits.
* **Played audio stops here.** pipecat pushes every played 40 ms chunk on downstream, to
  the assistant aggregator and the pipeline's sink (a queue hop and dispatch each);
  nothing there reads audio.
* **`BotSpeakingFrame` once a second** instead of every 0.2 s. It is broadcast upstream
  and downstream through every processor; here only the call's idle timeout reads it
  (with `BotStoppedSpeakingFrame`, which stays exact), so a second is plenty.
"""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import (
    Frame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    StartFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

__all__ = ["BOT_SPEAKING_PERIOD_S", "TwilioMediaTransport", "TwilioOutput"]

BOT_SPEAKING_PERIOD_S = 1.0


class TwilioOutput(FastAPIWebsocketOutputTransport):
    def __init__(self, *args: Any, stream_sid: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stream_sid = stream_sid
        self.marks_sent = 0

    async def set_transport_ready(self, frame: StartFrame) -> None:
        await super().set_transport_ready(frame)
        for sender in self._media_senders.values():
            sender._bot_speaking_frame_period = BOT_SPEAKING_PERIOD_S

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSStoppedFrame) and direction is FrameDirection.DOWNSTREAM:
            self.marks_sent += 1
            mark = {
                "event": "mark",
                "streamSid": self._stream_sid,
                "mark": {"name": f"utt-{self.marks_sent}"},
            }
            # Queued like any non-urgent frame: behind the utterance's audio.
            await super().process_frame(OutputTransportMessageFrame(message=mark), direction)

    async def push_frame(
        self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
    ) -> None:
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, OutputAudioRawFrame):
            return
        await super().push_frame(frame, direction)


class TwilioMediaTransport(FastAPIWebsocketTransport):
    """The FastAPI websocket transport with `TwilioOutput` as its output."""

    def __init__(self, *, websocket: Any, params: FastAPIWebsocketParams, stream_sid: str) -> None:
        super().__init__(websocket=websocket, params=params)
        self._output = TwilioOutput(
            self, self._client, self._params, name=self._output_name, stream_sid=stream_sid
        )
