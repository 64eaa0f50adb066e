"""Stage services for one call, built from `ResolvedStage`s by the provider adapters.

Construction belongs to `voxroute.providers` (`build_stt/build_llm/build_tts`, with the
worker's shared `ProviderResources`); this module only adds what a *call* needs on top:
the assistant's system prompt on the LLM, and `rekey`, which re-points a running service
at another key of the same provider (pool failover, managed fallback) without rebuilding
the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voxroute._pipecat.rekey import is_streaming, move_key, reconnect
from voxroute.errors import KeyNotFound
from voxroute.providers import build_llm, build_stt, build_tts
from voxroute.routing.types import ResolvedStage, Stage

if TYPE_CHECKING:
    from pipecat.processors.frame_processor import FrameProcessor
    from pipecat.services.llm_service import LLMService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService

    from voxroute.providers import ProviderResources

__all__ = ["StageServices", "build_service", "build_services", "rekey"]


@dataclass(slots=True)
class StageServices:
    """A call's STT, LLM and TTS pipecat services."""

    stt: STTService
    llm: LLMService[Any]
    tts: TTSService

    def by_stage(self) -> dict[Stage, FrameProcessor]:
        return {"stt": self.stt, "llm": self.llm, "tts": self.tts}


def build_service(
    stage: ResolvedStage, *, sample_rate: int, resources: ProviderResources
) -> FrameProcessor:
    """The adapter-built service of `stage` (its modality decides which builder)."""
    if stage.stage == "stt":
        return build_stt(stage, sample_rate=sample_rate, resources=resources)
    if stage.stage == "llm":
        return build_llm(stage, resources=resources)
    return build_tts(stage, sample_rate=sample_rate, resources=resources)


def build_services(
    stages: dict[Stage, ResolvedStage],
    *,
    sample_rate: int,
    resources: ProviderResources,
    system_instruction: str | None = None,
) -> StageServices:
    """All three stages of a call; `KeyNotFound` when one is missing or has no secret."""
    missing = [name for name in ("stt", "llm", "tts") if name not in stages]
    if missing:
        raise KeyNotFound(f"no resolved key for {', '.join(missing)}")
    llm = build_llm(stages["llm"], resources=resources)
    if system_instruction:
        # Composed into every inference (survives context resets), ahead of pipecat's own.
        llm.append_system_instruction(system_instruction)
    return StageServices(
        stt=build_stt(stages["stt"], sample_rate=sample_rate, resources=resources),
        llm=llm,
        tts=build_tts(stages["tts"], sample_rate=sample_rate, resources=resources),
    )


async def rekey(
    service: FrameProcessor,
    stage: ResolvedStage,
    *,
    sample_rate: int,
    resources: ProviderResources,
) -> None:
    """Point a running service at `stage`'s key (same provider) and reconnect if needed.

    A fresh instance is built by the adapter with the new key and its key-bearing
    attributes are moved over, so URL and client handling stays in `voxroute.providers`.
    Websocket services (STT, most TTS) are then disconnected and connected again.
    """
    fresh: Any = build_service(stage, sample_rate=sample_rate, resources=resources)
    if type(fresh) is not type(service):
        raise KeyNotFound(f"cannot rekey {stage.stage}: the new key is for another service")
    if not move_key(fresh, service):
        raise KeyNotFound(f"cannot rekey {stage.stage}: {type(service).__name__} holds no key")
    target: Any = service
    if stage.stage != "llm" and is_streaming(target):
        await reconnect(target)
    elif not target.is_usable:
        await target.set_usable(True)
