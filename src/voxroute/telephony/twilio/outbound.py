"""`OutboundQueue`: what a call still has to send Twilio, in order, encoded once.

TTS audio (PCM16 at 8 kHz) is cut into 20 ms frames and turned into the media message's
JSON text as it arrives: μ-law for the whole arriving piece in one call, then a base64
payload per frame inside a pre-built envelope. Other items keep their place behind the
audio ahead of them: control messages (`mark`), pipecat frames that must follow the audio
(the TTS's text, `TTSStoppedFrame`) and the end of the call.

`due(now)` releases items in order, audio at the pace it plays: up to `lead_s` ahead of
the far end's play-out, so a tick delayed by a busy loop is absorbed by Twilio's buffer
instead of becoming a gap the caller hears. Pure bookkeeping: no I/O, no pipecat task.

Queued interruptible audio is held as the message's text alone, and made an `Item` when
it is released. TTS runs seconds ahead of play-out, so a hundred calls hold thousands of
queued frames: as `Item`s they were a quarter of the objects every young garbage
collection traversed; a `str` is not tracked at all.
"""

from __future__ import annotations

import audioop  # pipecat's own μ-law codec (pipecat.audio.utils); audioop-lts on 3.13+
import base64
import json
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = [
    "FRAME_S",
    "FRAME_SAMPLES",
    "LEAD_S",
    "SAMPLE_RATE",
    "Item",
    "Kind",
    "OutboundQueue",
]

SAMPLE_RATE = 8000
FRAME_S = 0.02
FRAME_SAMPLES = int(SAMPLE_RATE * FRAME_S)
# How far audio may run ahead of the far end's play-out: covers a tick delayed by a busy
# loop without an audible gap; `clear` empties Twilio's buffer on barge-in whatever it is.
LEAD_S = 0.08


class Kind(Enum):
    """What an outbound item is."""

    MEDIA = "media"  # 20 ms of audio: a media message's text
    MESSAGE = "message"  # any other message's text (a mark)
    FRAME = "frame"  # a pipecat frame to pass on once the audio before it is sent
    END = "end"  # the end of the call: everything before it is sent


@dataclass(slots=True, frozen=True)
class Item:
    """One entry in the outbound queue, in sending order."""

    kind: Kind
    payload: Any = None
    interruptible: bool = True


class OutboundQueue:
    """A call's outbound messages and frames in order, with audio released at the pace it plays."""

    def __init__(self, stream_sid: str, *, lead_s: float = LEAD_S) -> None:
        sid = json.dumps(stream_sid)
        self._media_prefix = '{"event":"media","streamSid":' + sid + ',"media":{"payload":"'
        self.clear_message = '{"event":"clear","streamSid":' + sid + "}"
        self._mark_prefix = '{"event":"mark","streamSid":' + sid + ',"mark":{"name":'
        self._lead = lead_s
        # A `str` is an interruptible media message's text (see the module's docstring).
        self._items: deque[Item | str] = deque()
        self._pcm = bytearray()  # less than a frame, waiting for the rest
        self._pcm_interruptible = True
        # Loop time at which the far end finishes playing what has been released.
        self.play_end = 0.0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def idle(self) -> bool:
        return not self._items and not self._pcm

    @property
    def has_audio(self) -> bool:
        return bool(self._pcm) or any(
            isinstance(item, str) or item.kind is Kind.MEDIA for item in self._items
        )

    # -- filling -----------------------------------------------------------------------
    def add_audio(self, pcm: bytes, *, interruptible: bool = True) -> None:
        """PCM16 mono at 8 kHz; whole frames are encoded now, the rest waits."""
        if not pcm:
            return
        # A frame holding any uninterruptible audio is uninterruptible (pipecat's rule).
        if self._pcm:
            self._pcm_interruptible = self._pcm_interruptible and interruptible
        else:
            self._pcm_interruptible = interruptible
        self._pcm += pcm
        whole = len(self._pcm) - len(self._pcm) % (FRAME_SAMPLES * 2)
        if whole:
            self._encode(bytes(self._pcm[:whole]), self._pcm_interruptible)
            del self._pcm[:whole]
            self._pcm_interruptible = interruptible

    def flush_audio(self) -> None:
        """The end of an utterance: its last partial frame, padded with silence."""
        if self._pcm:
            padded = bytes(self._pcm) + bytes(FRAME_SAMPLES * 2 - len(self._pcm))
            self._encode(padded, self._pcm_interruptible)
            self._pcm.clear()

    def add_mark(self, name: str) -> None:
        self.add(Item(Kind.MESSAGE, self._mark_prefix + json.dumps(name) + "}}"))

    def add(self, item: Item) -> None:
        self._items.append(item)

    def _encode(self, pcm: bytes, interruptible: bool) -> None:
        ulaw = audioop.lin2ulaw(pcm, 2)
        prefix = self._media_prefix
        append = self._items.append
        for start in range(0, len(ulaw), FRAME_SAMPLES):
            payload = base64.b64encode(ulaw[start : start + FRAME_SAMPLES]).decode("ascii")
            text = prefix + payload + '"}}'
            append(text if interruptible else Item(Kind.MEDIA, text, False))

    # -- releasing ---------------------------------------------------------------------
    def due(self, now: float) -> list[Item]:
        """The items to send at loop time `now`, in order.

        Audio only as far as `lead_s` ahead of play-out.
        """
        released: list[Item] = []
        items = self._items
        limit = now + self._lead - 1e-6  # float sums of FRAME_S must not add a frame
        while items:
            item = items[0]
            if isinstance(item, str) or item.kind is Kind.MEDIA:
                if self.play_end >= limit:
                    break
                self.play_end = (self.play_end if self.play_end > now else now) + FRAME_S
            items.popleft()
            released.append(Item(Kind.MEDIA, item) if isinstance(item, str) else item)
        return released

    def interrupt(self, now: float) -> None:
        """Barge-in: drop everything interruptible; Twilio's buffer is cleared too."""
        self._items = deque(
            item for item in self._items if not isinstance(item, str) and not item.interruptible
        )
        self._pcm.clear()
        self.play_end = now
