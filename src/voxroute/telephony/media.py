"""The carrier-neutral media session: what the call core (`voxroute.calls`) sees of a carrier.

A carrier (`telephony/twilio/`, or any new folder beside it) turns its media stream into a
`MediaSession`; the call core drives a whole call through this interface alone and never
imports a carrier. The session carries:

* **Who**: the call's identity (`CallIdentity`: our call id, the carrier's call id,
  from/to, the account) and what the stream said when it started (`MediaStart`: stream
  id, custom parameters, audio format).
* **Inbound**: caller audio as PCM at `sample_rate`, handed synchronously to the call's
  `AudioSink` (no pipecat frame, no queue); DTMF as pipecat `InputDTMFFrame`s pushed by
  `MediaPorts.input()`. Every inbound message passes the carrier's `InboundGuard`
  (`telephony/inbound_guard.py`) before it reaches the call; a tripped guard reports
  `MediaEvents.flooded`.
* **Outbound**: `MediaPorts.output()` takes the pipeline's `OutputAudioRawFrame`s, paced
  by the worker's `AudioClock` (`telephony/audio_clock.py`), and announces the bot's
  speech (`BotStartedSpeakingFrame` / `BotStoppedSpeakingFrame`, from which the call
  measures its turns and detects barge-in); after each utterance
  (`TTSStoppedFrame`) it sends a played-out mark; on `InterruptionFrame` (barge-in) it
  drops interruptible audio and clears what the far end still holds. On `EndFrame` it
  plays out what is queued, then hangs up through the carrier (with `hang_up_secret`,
  unless `suppress_hang_up` was called); on `CancelFrame`, at once.
* **Ends seen by the carrier**: the caller hung up (`MediaEvents.caller_hung_up`), the
  stream flooded (`MediaEvents.flooded`).

The hot paths stay the carrier's own: the interface is crossed once per call (`connect`,
`attach`, `detach`, `stats`), never per frame.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from voxroute.vault.secret import Secret

if TYPE_CHECKING:
    from pipecat.processors.frame_processor import FrameProcessor

    from voxroute.db.models import Call
    from voxroute.telephony.inbound_guard import InboundGuard

__all__ = [
    "AudioSink",
    "CallCore",
    "CallIdentity",
    "CloseReason",
    "MediaEvents",
    "MediaPorts",
    "MediaSession",
    "MediaStart",
    "SecretOpener",
]

AudioSink = Callable[[bytes], None]  # caller audio, PCM at the session's rate; must not block
# The carrier account's secret (e.g. Twilio's auth token), read and decrypted only when the
# carrier needs it (a REST hang-up): most calls end with the caller hanging up.
SecretOpener = Callable[[], Awaitable[Secret]]


@dataclass(frozen=True, slots=True)
class MediaStart:
    """What the carrier said when the stream opened, before the call was claimed."""

    carrier: str  # the carrier's folder name under `telephony/`
    stream_id: str
    carrier_call_id: str
    account: str
    custom_parameters: Mapping[str, str] = field(default_factory=dict)
    sample_rate: int = 8000  # of caller audio handed to the sink and of the audio sent back


@dataclass(frozen=True, slots=True)
class CallIdentity:
    """The call a media session belongs to (its row claimed by the stream's call token)."""

    call_id: str
    carrier_call_id: str
    account: str
    from_number: str = ""
    to_number: str = ""


@dataclass(frozen=True, slots=True)
class MediaEvents:
    """The call core's hooks; synchronous, called from the media path: must not block."""

    caller_hung_up: Callable[[], None]
    flooded: Callable[[], None]  # the inbound guard tripped; the stream is being closed
    speaking: Callable[[], None]  # outbound audio went out (the call's activity)


class CloseReason(Enum):
    """Why a stream is closed before its pipeline ran; the carrier maps it to its wire."""

    NORMAL = "normal"  # ended during set-up (e.g. the hang-up API)
    REFUSED = "refused"  # token, account, credit or set-up refused the call
    TRY_LATER = "try_later"  # this worker is full


class MediaPorts(Protocol):
    """The two ends of the call's pipecat pipeline that the carrier provides."""

    def input(self) -> FrameProcessor:
        """First processor: pushes DTMF (`InputDTMFFrame`) and the pipeline's start."""
        ...

    def output(self) -> FrameProcessor:
        """Last-but-one processor: outbound audio, marks, clear, hang-up (module docstring)."""
        ...


class MediaSession(Protocol):
    """One call's media on one carrier. Built by the carrier's entry path, run by `CallCore`."""

    @property
    def start(self) -> MediaStart: ...

    @property
    def identity(self) -> CallIdentity: ...

    @property
    def guard(self) -> InboundGuard:
        """The inbound guard every message from the carrier passes."""
        ...

    def connect(
        self, *, audio_sink: AudioSink, events: MediaEvents, hang_up_secret: SecretOpener | None
    ) -> MediaPorts:
        """Build the pipeline's ends, once, before the pipeline starts."""
        ...

    def attach(self) -> None:
        """The pipeline runs: start taking inbound media (off the receive loop if it can)."""
        ...

    def detach(self) -> None:
        """The pipeline stopped: stop taking inbound media."""
        ...

    def suppress_hang_up(self) -> None:
        """The caller already hung up: don't hang up through the carrier on the way out."""
        ...

    async def close(self, reason: CloseReason) -> None:
        """Close a stream whose pipeline never ran (idempotent; the peer may be gone)."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters for the call's record (`latency`), read once at its end."""
        ...


class CallCore(Protocol):
    """Runs one call on a claimed media session until it ends.

    It is `voxroute.calls.session.run_call` bound to the process's runtime, handed to the
    carrier's entry path as `app.state.call_core` (a carrier never imports the call core).
    """

    async def __call__(self, call: Call, media: MediaSession) -> None: ...
