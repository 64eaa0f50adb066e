"""What a call measures from the frames that reach the end of its pipeline.

Usage (raw events from pipecat's metrics), turn latency, the DTMF count and caller/bot
activity (for the idle timeout). pipecat's observers would see every frame at every hop,
each observer through its own queue and task, and its idle timeout adds one more such
observer: at a hundred calls per worker those per-hop queue puts were a large share of
the worker's time. Instead the worker's sink reports the few frame types listed in
`SINK_FRAMES` (`on_frame_reached_downstream`), each frame once, with no extra hop. The
stage services' own `MetricsFrame`s do not travel that far: they are handed to
`UsageMeter.on_frame` where they are made (`voxroute._pipecat.service_taps`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputDTMFFrame,
    InterimTranscriptionFrame,
    MetricsFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import (
    LLMUsageMetricsData,
    STTUsageMetricsData,
    TTFBMetricsData,
    TTSUsageMetricsData,
)

from voxroute.calls.host import CallInfo
from voxroute.db.base import utcnow
from voxroute.routing.types import ResolvedStage, Stage
from voxroute.usage import Unit, UsageEvent

__all__ = ["ACTIVITY_FRAMES", "SINK_FRAMES", "Activity", "TurnLatency", "UsageMeter", "summarize"]

log = logging.getLogger(__name__)
MS_PER_SECOND = 1000

# What pipecat's idle timeout counts as activity (its `idle_timeout_frames` default), and
# the bot's stop. Its `BotSpeakingFrame` and `UserSpeakingFrame` are not sent through the
# pipeline here: the output and the caller audio path call `Activity.touch` instead.
ACTIVITY_FRAMES: tuple[type[Frame], ...] = (
    BotStoppedSpeakingFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    VADUserStartedSpeakingFrame,
)
SINK_FRAMES: tuple[type[Frame], ...] = (
    MetricsFrame,
    VADUserStoppedSpeakingFrame,
    BotStartedSpeakingFrame,
    InputDTMFFrame,
    *ACTIVITY_FRAMES,
)


class UsageMeter:
    """Turns `MetricsFrame`s into `UsageEvent`s for the sink, and collects TTFBs.

    The stage of a metric is found from the processor name; `stage_of` is read at event
    time so a stage switched to another key mid-call is attributed to the new key.
    """

    def __init__(
        self,
        call: CallInfo,
        stage_of: Callable[[str], ResolvedStage | None],
        sink: Callable[[UsageEvent], None],
    ) -> None:
        self._call = call
        self._stage_of = stage_of
        self._sink = sink
        self.totals: dict[str, int] = {}
        self.ttfb_ms: dict[str, list[float]] = {"stt": [], "llm": [], "tts": []}

    def on_frame(self, frame: Frame) -> None:
        if not isinstance(frame, MetricsFrame):
            return
        for item in frame.data:
            stage = self._stage_of(item.processor)
            if stage is None:
                continue
            if isinstance(item, TTFBMetricsData) and item.value > 0:
                self.ttfb_ms[stage.stage].append(round(item.value * 1000, 1))
            for unit, quantity in _units(item):
                if quantity > 0:
                    self._emit(stage, unit, quantity)

    def _emit(self, stage: ResolvedStage, unit: Unit, quantity: int) -> None:
        self.totals[unit] = self.totals.get(unit, 0) + quantity
        self._sink(
            UsageEvent(
                org_id=self._call.org_id,
                call_id=self._call.call_id,
                stage=stage.stage,
                provider=stage.provider,
                model=stage.model,
                key_source=stage.source,
                unit=unit,
                quantity=quantity,
                credential_id=stage.credential_id,
                occurred_at=utcnow(),
            )
        )


def _units(item: Any) -> list[tuple[Unit, int]]:
    """Each metric as whole units; pipecat reports STT audio in (float) seconds."""
    if isinstance(item, STTUsageMetricsData):
        return [("stt_ms", round(item.value.audio_seconds * MS_PER_SECOND))]
    if isinstance(item, TTSUsageMetricsData):
        return [("tts_characters", int(item.value))]
    if isinstance(item, LLMUsageMetricsData):
        usage = item.value
        return [
            ("llm_input_tokens", int(usage.prompt_tokens)),
            ("llm_output_tokens", int(usage.completion_tokens)),
            ("llm_cached_tokens", int(usage.cache_read_input_tokens or 0)),
        ]
    return []


class TurnLatency:
    """Per-turn latency: end of caller speech → first bot audio out; DTMF keys pressed.

    The VAD reports a stop `vad_stop_secs` after speech really ended, so that delay is
    added back to the measured interval. DTMF is counted, never stored or logged by digit:
    callers type PINs and card numbers.
    """

    def __init__(self, vad_stop_secs: float, call_id: str = "") -> None:
        self._vad_stop_secs = vad_stop_secs
        self._user_stopped_at: float | None = None
        self.turns_ms: list[float] = []
        self.first_bot_audio_at: float | None = None
        self.dtmf_count = 0
        self._call_id = call_id

    def on_frame(self, frame: Frame) -> None:
        if not isinstance(
            frame, (VADUserStoppedSpeakingFrame, BotStartedSpeakingFrame, InputDTMFFrame)
        ):
            return
        if isinstance(frame, InputDTMFFrame):
            self.dtmf_count += 1
            log.info("call %s: DTMF key received (%d so far)", self._call_id, self.dtmf_count)
            return
        now = time.monotonic()
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self._user_stopped_at = now - self._vad_stop_secs
            return
        if self.first_bot_audio_at is None:
            self.first_bot_audio_at = now
        if self._user_stopped_at is not None:
            self.turns_ms.append(round((now - self._user_stopped_at) * 1000, 1))
            self._user_stopped_at = None


class Activity:
    """When the caller or the bot last did something (`ACTIVITY_FRAMES`, or `touch`)."""

    def __init__(self) -> None:
        self.last_at = time.monotonic()

    def touch(self) -> None:
        self.last_at = time.monotonic()

    def on_frame(self, frame: Frame) -> None:
        if isinstance(frame, ACTIVITY_FRAMES):
            self.touch()

    def idle_for(self) -> float:
        return time.monotonic() - self.last_at


def summarize(turns_ms: list[float], ttfb_ms: Mapping[str, list[float]]) -> dict[str, Any]:
    """The `calls.latency` JSON."""
    out: dict[str, Any] = {"turns_ms": turns_ms}
    if turns_ms:
        ordered = sorted(turns_ms)
        out["turn_p50_ms"] = ordered[len(ordered) // 2]
        out["turn_max_ms"] = ordered[-1]
    for stage, values in ttfb_ms.items():
        if values:
            out[f"{stage}_ttfb_ms"] = values
    return out


StageName = Stage
