"""The per-call pipecat pipeline: Twilio in → STT → user context → LLM → TTS → Twilio out.

Only construction lives here; running and ending the call belong to `session.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    FunctionCallResultProperties,
    InputAudioRawFrame,
    StartFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregator,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.stt_service import STTService
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.turns.user_start import TranscriptionUserTurnStartStrategy, VADUserTurnStartStrategy
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from voxroute.calls.observers import FirstPushFanOut, LatencyObserver, UsageObserver
from voxroute.calls.runtime import CallInfo, UsageEvent
from voxroute.calls.services import StageServices
from voxroute.calls.vad import SharedSileroVADAnalyzer
from voxroute.routing.types import FailurePolicy, ResolvedStage
from voxroute.telephony.twilio.serializer import MarkAfterUtterance, VoxrouteTwilioSerializer

__all__ = ["SAMPLE_RATE", "AssistantConfig", "CallPipeline", "build_pipeline"]

SAMPLE_RATE = 8000  # Twilio μ-law 8 kHz in and out: no resampler latency (pipecat notes §3)
VAD_STOP_SECS = 0.2  # pipecat's STT latency figures assume 0.2
END_CALL_TOOL = "end_call"
EndCallHandler = Callable[[str | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AssistantConfig:
    """What the pipeline needs of the assistant, copied out of the ORM row at setup."""

    system_prompt: str
    first_message: str
    max_duration_s: int
    idle_timeout_s: int
    failure_policy: FailurePolicy


@dataclass(slots=True)
class CallPipeline:
    worker: PipelineWorker
    transport: FastAPIWebsocketTransport
    services: StageServices
    usage: UsageObserver
    latency: LatencyObserver
    context: LLMContext
    caller_audio: _CallerAudioPath


def _end_call_schema() -> FunctionSchema:
    return FunctionSchema(
        name=END_CALL_TOOL,
        description=(
            "End the phone call. Call this when the caller says goodbye or the conversation "
            "is over."
        ),
        properties={"message": {"type": "string", "description": "A short goodbye to say first."}},
        required=[],
    )


class _CallerAudioPath:
    """Caller audio in one place: Twilio `media` → μ-law → STT send → user aggregator's VAD.

    pipecat moves every 20 ms `InputAudioRawFrame` through three asyncio-queue hops (the
    input transport's audio queue, the STT's input queue, the user aggregator's input
    queue), each a task switch plus an observer call, and then on through the rest of the
    pipeline. Here the transport's receive loop, once the STT has started, hands the frame
    straight to the STT (`process_audio_frame`: usage accounting, reconnect buffering,
    mute, send) and queues it at the user aggregator, whose VAD controller, turn
    strategies and idle controller see it as before: VAD/user-speaking/interruption frames
    are still produced by the aggregator and broadcast through the pipeline as before.
    Caller audio stops at the aggregator (its VAD is the last consumer); pipecat would
    otherwise forward it through LLM, TTS, marks, output and the assistant aggregator.

    Until the STT has started, frames take pipecat's path. The switch waits until the
    last of those has reached the aggregator, so the STT and the VAD never see audio out
    of order.
    """

    def __init__(
        self, source: BaseInputTransport, stt: STTService, aggregator: LLMUserAggregator
    ) -> None:
        self._source = source
        self._stt = stt
        self._aggregator = aggregator
        self._stt_started = False
        self._in_flight = 0  # frames sent pipecat's way, not yet at the aggregator
        self.fused_frames = 0
        self._pipecat_push_audio = source.push_audio_frame
        self._stt_start, self._stt_stop, self._stt_cancel = stt.start, stt.stop, stt.cancel
        self._aggregator_push = aggregator.push_frame
        # Instance-level wrappers: pipecat calls these through `self.`, so the services and
        # the aggregator pair keep being built and wired by pipecat.
        source.push_audio_frame = self.push_audio_frame  # type: ignore[method-assign]
        stt.start = self._on_stt_start  # type: ignore[method-assign]
        stt.stop = self._on_stt_stop  # type: ignore[method-assign]
        stt.cancel = self._on_stt_cancel  # type: ignore[method-assign]
        aggregator.push_frame = self._aggregator_push_frame  # type: ignore[method-assign]

    async def _on_stt_start(self, frame: StartFrame) -> None:
        await self._stt_start(frame)
        self._stt_started = True

    async def _on_stt_stop(self, frame: EndFrame) -> None:
        self._stt_started = False
        await self._stt_stop(frame)

    async def _on_stt_cancel(self, frame: CancelFrame) -> None:
        self._stt_started = False
        await self._stt_cancel(frame)

    async def push_audio_frame(self, frame: InputAudioRawFrame) -> None:
        source: Any = self._source
        if source._paused:  # as BaseInputTransport.push_audio_frame
            return
        if not self._stt_started or self._in_flight > 0:
            self._in_flight += 1
            await self._pipecat_push_audio(frame)
            return
        self.fused_frames += 1
        stt = self._stt
        # As pipecat's frame task does: a failure becomes an ErrorFrame (and the failover
        # path), never an exception out of the transport's receive loop (a hang-up).
        try:
            await stt.process_audio_frame(frame, FrameDirection.DOWNSTREAM)
        except Exception as exc:  # noqa: BLE001
            await stt.push_error(error_msg=f"Error processing frame: {exc}", exception=exc)
        await self._aggregator.queue_frame(frame, FrameDirection.DOWNSTREAM)

    async def _aggregator_push_frame(
        self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
    ) -> None:
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, InputAudioRawFrame):
            if self._in_flight > 0:
                self._in_flight -= 1
            return
        await self._aggregator_push(frame, direction)


def build_pipeline(
    *,
    websocket: WebSocket,
    serializer: VoxrouteTwilioSerializer,
    call: CallInfo,
    assistant: AssistantConfig,
    services: StageServices,
    stage_of: Callable[[str], ResolvedStage | None],
    usage_sink: Callable[[UsageEvent], None],
    on_end_call: EndCallHandler,
) -> CallPipeline:
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
            # Twilio sends no Origin header; never inherit PIPECAT_ALLOWED_ORIGINS.
            allowed_origins=[],
            audio_out_end_silence_secs=1,
        ),
    )
    # The system prompt is composed into the LLM's system instruction (build_services).
    context = LLMContext(messages=[], tools=ToolsSchema(standard_tools=[_end_call_schema()]))
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=SharedSileroVADAnalyzer(params=VADParams(stop_secs=VAD_STOP_SECS)),
            # No smart-turn model: it costs an ONNX session per call and ~60 ms per turn.
            user_turn_strategies=UserTurnStrategies(
                start=[VADUserTurnStartStrategy(), TranscriptionUserTurnStartStrategy()],
                stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.4)],
            ),
        ),
    )

    input_transport = transport.input()
    caller_audio = _CallerAudioPath(input_transport, services.stt, user_aggregator)

    async def end_call_tool(params: Any) -> None:
        message = params.arguments.get("message") if params.arguments else None
        await params.result_callback(
            {"status": "ending call"}, properties=FunctionCallResultProperties(run_llm=False)
        )
        await on_end_call(message if isinstance(message, str) else None)

    services.llm.register_function(END_CALL_TOOL, end_call_tool)

    pipeline = Pipeline(
        [
            input_transport,
            services.stt,
            user_aggregator,
            services.llm,
            services.tts,
            MarkAfterUtterance(serializer.stream_sid),
            transport.output(),
            assistant_aggregator,
        ]
    )
    usage = UsageObserver(call, stage_of, usage_sink)
    latency = LatencyObserver(VAD_STOP_SECS, call.call_id)
    worker = PipelineWorker(
        pipeline,
        name=f"call-{call.call_id}",
        params=PipelineParams(
            audio_in_sample_rate=SAMPLE_RATE,
            audio_out_sample_rate=SAMPLE_RATE,
            enable_metrics=True,
            enable_usage_metrics=True,
        ),
        enable_rtvi=False,  # +25 % CPU otherwise, and no RTVI client on a phone line
        # Deliberate: the idle timeout comes from the assistant, and the session decides
        # what "idle" does (a polite goodbye), instead of a silent cancel.
        idle_timeout_secs=float(assistant.idle_timeout_s) if assistant.idle_timeout_s else None,
        cancel_on_idle_timeout=False,
        observers=[FirstPushFanOut(usage, latency)],
        # Unused here, and every observer costs a queue hop per frame per processor.
        enable_turn_tracking=False,
        check_dangling_tasks=False,
    )
    return CallPipeline(
        worker=worker,
        transport=transport,
        services=services,
        usage=usage,
        latency=latency,
        context=context,
        caller_audio=caller_audio,
    )
