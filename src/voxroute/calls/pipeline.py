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
from pipecat.frames.frames import Frame, FunctionCallResultProperties
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
)
from pipecat.turns.user_start import TranscriptionUserTurnStartStrategy, VADUserTurnStartStrategy
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from voxroute._pipecat.service_taps import tap_service
from voxroute.calls.audio_clock import AudioClock
from voxroute.calls.caller_audio import CallerAudioPath
from voxroute.calls.host import CallInfo
from voxroute.calls.meters import SINK_FRAMES, Activity, TurnLatency, UsageMeter
from voxroute.calls.services import StageServices
from voxroute.calls.vad_batch import VadBatcher
from voxroute.routing.types import FailurePolicy, ResolvedStage
from voxroute.telephony.twilio.serializer import VoxrouteTwilioSerializer
from voxroute.telephony.twilio.transport import TwilioMediaTransport
from voxroute.usage import UsageEvent

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
    transport: TwilioMediaTransport
    services: StageServices
    usage: UsageMeter
    latency: TurnLatency
    activity: Activity
    context: LLMContext
    caller_audio: CallerAudioPath


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
    vad: VadBatcher,
    audio_clock: AudioClock,
) -> CallPipeline:
    activity = Activity()
    transport = TwilioMediaTransport(
        websocket=websocket,
        serializer=serializer,
        clock=audio_clock,
        on_speaking=activity.touch,
        params=FastAPIWebsocketParams(
            # Caller audio never enters pipecat's input (the serializer's `audio_sink`, below);
            # enabled, its idle audio task would still wake on a 0.5 s `wait_for` forever.
            audio_in_enabled=False,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
            # Twilio sends no Origin header; never inherit PIPECAT_ALLOWED_ORIGINS.
            allowed_origins=[],
        ),
    )
    # The system prompt is composed into the LLM's system instruction (build_services).
    context = LLMContext(messages=[], tools=ToolsSchema(standard_tools=[_end_call_schema()]))
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context,
        # No VAD analyzer here: caller audio never reaches the aggregator; the VAD runs
        # batched for the whole worker and only its events enter (caller_audio.py).
        user_params=LLMUserAggregatorParams(
            # No smart-turn model: it costs an ONNX session per call and ~60 ms per turn.
            user_turn_strategies=UserTurnStrategies(
                start=[VADUserTurnStartStrategy(), TranscriptionUserTurnStartStrategy()],
                stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.4)],
            ),
        ),
    )

    caller_audio = CallerAudioPath(
        services.stt,
        vad,
        VADParams(stop_secs=VAD_STOP_SECS),
        sample_rate=SAMPLE_RATE,
        on_speech=activity.touch,
    )
    serializer.audio_sink = caller_audio.feed

    async def end_call_tool(params: Any) -> None:
        message = params.arguments.get("message") if params.arguments else None
        await params.result_callback(
            {"status": "ending call"}, properties=FunctionCallResultProperties(run_llm=False)
        )
        await on_end_call(message if isinstance(message, str) else None)

    services.llm.register_function(END_CALL_TOOL, end_call_tool)

    pipeline = Pipeline(
        [
            transport.input(),
            services.stt,
            user_aggregator,
            services.llm,
            services.tts,
            transport.output(),
            assistant_aggregator,
        ]
    )
    usage = UsageMeter(call, stage_of, usage_sink)
    for service in services.by_stage().values():
        tap_service(service, usage.on_frame)
    latency = TurnLatency(VAD_STOP_SECS, call.call_id)
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
        # No observers (each costs a queue put per frame per hop; meters.py): the idle
        # timeout is the session's, from `activity`, and it says a polite goodbye.
        idle_timeout_secs=None,
        enable_turn_tracking=False,
        check_dangling_tasks=False,
    )
    worker.set_reached_downstream_filter(SINK_FRAMES)

    @worker.event_handler("on_frame_reached_downstream")  # type: ignore[untyped-decorator]
    async def _measure(_worker: Any, frame: Frame) -> None:
        usage.on_frame(frame)
        latency.on_frame(frame)
        activity.on_frame(frame)

    return CallPipeline(
        worker=worker,
        transport=transport,
        services=services,
        usage=usage,
        latency=latency,
        activity=activity,
        context=context,
        caller_audio=caller_audio,
    )
