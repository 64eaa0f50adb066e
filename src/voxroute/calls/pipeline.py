"""The per-call pipecat pipeline: carrier in → STT → user context → LLM → TTS → carrier out.

The carrier's ends come from its `telephony.media.MediaSession`; caller audio goes from the
carrier straight to `CallerAudioPath` (no pipecat frame). Only construction lives here;
running and ending the call belong to `session.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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
from pipecat.turns.user_start import TranscriptionUserTurnStartStrategy, VADUserTurnStartStrategy
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from voxroute._pipecat.service_taps import tap_service
from voxroute.calls.caller_audio import CallerAudioPath
from voxroute.calls.host import CallInfo
from voxroute.calls.meters import SINK_FRAMES, Activity, TurnLatency, UsageMeter
from voxroute.calls.services import StageServices
from voxroute.calls.vad_batch import VadBatcher
from voxroute.routing.types import FailurePolicy, ResolvedStage
from voxroute.telephony.media import MediaEvents, MediaSession, SecretOpener
from voxroute.usage import UsageEvent

__all__ = ["AssistantConfig", "CallPipeline", "build_pipeline"]

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
    """A built call pipeline and the parts the session reads or drives while it runs."""

    worker: PipelineWorker
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
    media: MediaSession,
    hang_up_secret: SecretOpener | None,
    on_caller_hung_up: Callable[[], None],
    on_flood: Callable[[], None],
    call: CallInfo,
    assistant: AssistantConfig,
    services: StageServices,
    stage_of: Callable[[str], ResolvedStage | None],
    usage_sink: Callable[[UsageEvent], None],
    on_end_call: EndCallHandler,
    vad: VadBatcher,
) -> CallPipeline:
    """Build a call's pipeline from its media, assistant and stage services; nothing runs yet."""
    # The carrier's rate in and out (8 kHz for Twilio's μ-law): no resampler latency.
    sample_rate = media.start.sample_rate
    activity = Activity()
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
        sample_rate=sample_rate,
        on_speech=activity.touch,
    )
    ports = media.connect(
        audio_sink=caller_audio.feed,
        events=MediaEvents(
            caller_hung_up=on_caller_hung_up, flooded=on_flood, speaking=activity.touch
        ),
        hang_up_secret=hang_up_secret,
    )

    async def end_call_tool(params: Any) -> None:
        message = params.arguments.get("message") if params.arguments else None
        await params.result_callback(
            {"status": "ending call"}, properties=FunctionCallResultProperties(run_llm=False)
        )
        await on_end_call(message if isinstance(message, str) else None)

    services.llm.register_function(END_CALL_TOOL, end_call_tool)

    pipeline = Pipeline(
        [
            ports.input(),
            services.stt,
            user_aggregator,
            services.llm,
            services.tts,
            ports.output(),
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
            audio_in_sample_rate=sample_rate,
            audio_out_sample_rate=sample_rate,
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
        services=services,
        usage=usage,
        latency=latency,
        activity=activity,
        context=context,
        caller_audio=caller_audio,
    )
