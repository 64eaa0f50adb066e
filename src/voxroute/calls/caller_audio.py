"""Caller audio off pipecat's processor chain: the carrier's media → STT and the worker's VAD.

pipecat moves every 20 ms `InputAudioRawFrame` through a chain of asyncio-queue hops (the
input transport's audio queue, the STT, the user aggregator whose VAD controller runs Silero
per call, and on through LLM, TTS and output), each a task switch plus observer calls. At
a hundred calls per worker those hops, not the audio work, are the cost.

Here the media session's `AudioSink` (`telephony.media`) hands each frame's PCM to
`CallerAudioPath.feed` (no pipecat frame is made for it), synchronously: for Twilio, from
the media lane as the message comes off the socket (`telephony.media_lane`), or from the
transport's receive loop. `feed` does only
what the audio needs, and wakes the path's one task (`drain`) when there is a batch to send
or a VAD event to pass on, about five times a second instead of fifty:

* **STT**: frames are sent in 200 ms batches (`STT_BATCH_FRAMES`), straight through the
  service's `process_audio_frame` (usage accounting, reconnect buffering, mute, send), so
  a provider socket sees 5 sends a second instead of 50. Each send costs the worker about
  0.1 ms whatever its size (pipecat's usage accounting, the SDK, a masked websocket frame):
  200 ms sends take 28–36 % less CPU per second of audio than 100 ms ones
  (`bench/stt_batch.py`), within Deepgram's advice of 20-250 ms a send. The turn
  does not wait on the batch: pending audio is sent at once when the VAD hears speech
  stop (below); only interim transcripts can come up to 100 ms later. Before the STT has
  started, the last second of audio is kept and sent first.
* **VAD**: the frame is fed to the call's `VadStream` on the worker's `VadBatcher`, which
  runs Silero for every call in one batched inference.

Only the VAD's turn edges enter the pipeline: speech started/stopped
(`VADUserStartedSpeakingFrame` / `VADUserStoppedSpeakingFrame`). They are queued at the
STT, which handles them (TTFB, Deepgram's Finalize) and passes them on to the user
aggregator's turn strategies, as pipecat's own controller does. Pending audio is sent before
a speech-stopped frame, so the STT finalizes on everything the caller said.

pipecat's controller also sends a `UserSpeakingFrame` every 0.2 s of speech through the
whole pipeline; its only reader here would be the call's idle timeout, so `on_speech` is
called instead (six queue hops and a sink event task less, five times a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from pipecat.audio.vad.vad_analyzer import VADParams, VADState
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    StartFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.stt_service import STTService

from voxroute.calls.vad_batch import VadBatcher

__all__ = ["STT_BATCH_FRAMES", "CallerAudioPath"]

log = logging.getLogger(__name__)

STT_BATCH_FRAMES = 10  # 20 ms frames per STT send: 200 ms
PRESTART_FRAMES = 50  # audio kept (1 s) while the STT connects


class CallerAudioPath:
    """A call's caller audio into its STT and the worker's batched VAD, with no pipecat frames."""

    def __init__(
        self,
        stt: STTService,
        vad: VadBatcher,
        vad_params: VADParams,
        *,
        sample_rate: int,
        on_speech: Callable[[], None],
    ) -> None:
        self._stt = stt
        self._on_speech = on_speech
        self._sample_rate = sample_rate
        self._vad = vad.open(vad_params, self)
        self._vad_events: deque[VADState] = deque()
        self._speaking = False
        self._stt_started = False
        self._pending: deque[bytes] = deque(maxlen=PRESTART_FRAMES)
        self._wake = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self.frames = 0
        self.stt_sends = 0
        self._stt_start, self._stt_stop, self._stt_cancel = stt.start, stt.stop, stt.cancel
        # Instance-level wrappers: pipecat calls these through `self.`, so the service keeps
        # being built and wired by pipecat; we only learn when it can take audio.
        stt.start = self._on_stt_start  # type: ignore[method-assign]
        stt.stop = self._on_stt_stop  # type: ignore[method-assign]
        stt.cancel = self._on_stt_cancel  # type: ignore[method-assign]

    @property
    def vad_params(self) -> VADParams:
        return self._vad.params

    async def aclose(self) -> None:
        self._stt_started = False
        self._vad.close()
        task, self._drainer = self._drainer, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # VadListener: called on the loop by the batcher; passed on by `drain`, in order with
    # the audio.
    def on_vad_state(self, state: VADState) -> None:
        self._vad_events.append(state)
        self._wake.set()

    async def _on_stt_start(self, frame: StartFrame) -> None:
        await self._stt_start(frame)
        self._stt_started = True
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(
                self._drain_forever(), name="caller-audio"
            )
        self._wake.set()  # the audio kept while the STT connected

    async def _on_stt_stop(self, frame: EndFrame) -> None:
        await self.aclose()
        await self._stt_stop(frame)

    async def _on_stt_cancel(self, frame: CancelFrame) -> None:
        await self.aclose()
        await self._stt_cancel(frame)

    def feed(self, pcm: bytes) -> None:
        """One frame of caller audio (16-bit mono PCM at the pipeline rate); never blocks."""
        self.frames += 1
        self._vad.feed(pcm)
        self._pending.append(pcm)
        if self._speaking:
            self._on_speech()
        if self._stt_started and len(self._pending) >= STT_BATCH_FRAMES:
            self._wake.set()

    async def drain(self) -> None:
        """Pass on the VAD's events and send full batches to the STT, in order."""
        while self._vad_events:
            await self._on_vad_event(self._vad_events.popleft())
        if len(self._pending) >= STT_BATCH_FRAMES:
            await self._send_to_stt()

    async def _drain_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
            except Exception:
                # The caller's audio must keep flowing; a lost batch is logged, not fatal.
                log.exception("caller audio: drain failed")

    async def _on_vad_event(self, state: VADState) -> None:
        params = self._vad.params
        if state is VADState.SPEAKING and not self._speaking:
            self._speaking = True
            await self._to_pipeline(VADUserStartedSpeakingFrame(start_secs=params.start_secs))
        elif state is VADState.QUIET and self._speaking:
            self._speaking = False
            await self._send_to_stt()  # the STT finalizes on everything said
            await self._to_pipeline(VADUserStoppedSpeakingFrame(stop_secs=params.stop_secs))

    async def _to_pipeline(self, frame: Frame) -> None:
        await self._stt.queue_frame(frame, FrameDirection.DOWNSTREAM)

    async def _send_to_stt(self) -> None:
        if not self._stt_started or not self._pending:
            return
        audio = b"".join(self._pending)
        self._pending.clear()
        self.stt_sends += 1
        stt = self._stt
        frame = InputAudioRawFrame(audio=audio, sample_rate=self._sample_rate, num_channels=1)
        # As pipecat's frame task does: a failure becomes an ErrorFrame (and the failover
        # path), never an exception out of the transport's receive loop (a hang-up).
        try:
            await stt.process_audio_frame(frame, FrameDirection.DOWNSTREAM)
        except Exception as exc:  # noqa: BLE001
            await stt.push_error(error_msg=f"Error processing frame: {exc}", exception=exc)
