"""Stage services for one call, built from `ResolvedStage`s.

`build_services` is the single place that constructs pipecat provider services; once the
provider adapters (`voxroute.providers.build_stt/llm/tts`) land, they replace the private
constructors here. `rekey` re-points a running service at another key (pool failover,
managed fallback) without rebuilding the pipeline.
"""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pipecat.processors.frame_processor import FrameProcessor

with warnings.catch_warnings():
    # Importing these modules trips pipecat's own deprecation shims (class definitions
    # inside pipecat), which nothing here can fix.
    warnings.simplefilter("ignore", DeprecationWarning)
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient
    from pipecat.services.cartesia.tts import CartesiaTTSService
    from pipecat.services.deepgram.stt import DeepgramSTTService
    from pipecat.services.elevenlabs.tts import ElevenLabsTTSService
    from pipecat.services.llm_service import LLMService
    from pipecat.services.openai.llm import OpenAILLMService

from voxroute.errors import KeyNotFound
from voxroute.routing.types import ResolvedStage, Stage

__all__ = ["StageServices", "build_service", "build_services", "rekey"]

_OPENAI_COMPATIBLE = {"openai", "xai", "groq"}


@dataclass(slots=True)
class StageServices:
    stt: FrameProcessor
    llm: LLMService[Any]
    tts: FrameProcessor

    def by_stage(self) -> dict[Stage, FrameProcessor]:
        return {"stt": self.stt, "llm": self.llm, "tts": self.tts}


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One CA bundle load per process instead of one per call (≈20 ms each)."""
    return ssl.create_default_context()


def _key(stage: ResolvedStage) -> str:
    value = stage.api_key.reveal()
    if not value:  # never let an SDK fall back to its environment variable
        raise KeyNotFound(f"empty key for {stage.stage}")
    return value


def _openai_base(stage: ResolvedStage) -> str | None:
    if not stage.base_url:
        return None
    base = stage.base_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def _build_stt(stage: ResolvedStage, sample_rate: int) -> FrameProcessor:
    if stage.provider != "deepgram":
        raise KeyNotFound(f"no STT service for provider {stage.provider}")
    settings = DeepgramSTTService.Settings(
        model=stage.model or "nova-3-general",
        language=stage.options.get("language", "en"),
    )
    return DeepgramSTTService(
        api_key=_key(stage),
        base_url=stage.base_url or "",
        sample_rate=sample_rate,
        settings=settings,
    )


def _build_llm(stage: ResolvedStage, system_instruction: str | None = None) -> LLMService[Any]:
    if stage.provider not in _OPENAI_COMPATIBLE:
        raise KeyNotFound(f"no LLM service for provider {stage.provider}")

    class _LLM(OpenAILLMService):
        def create_client(
            self,
            api_key: Any = None,
            base_url: Any = None,
            organization: Any = None,
            project: Any = None,
            default_headers: Any = None,
            **kw: Any,
        ) -> Any:
            return AsyncOpenAI(
                api_key=api_key,
                base_url=base_url,
                max_retries=1,
                http_client=DefaultAsyncHttpxClient(verify=_ssl_context()),
            )

    return _LLM(
        api_key=_key(stage),
        base_url=_openai_base(stage),
        settings=OpenAILLMService.Settings(
            model=stage.model or "gpt-4.1-mini", system_instruction=system_instruction or None
        ),
    )


def _build_tts(stage: ResolvedStage, sample_rate: int) -> FrameProcessor:
    voice = str(stage.options.get("voice_id") or stage.options.get("voice") or "")
    if stage.provider == "cartesia":
        url = (
            f"{stage.base_url.rstrip('/').replace('http', 'ws', 1)}/tts/websocket"
            if (stage.base_url)
            else "wss://api.cartesia.ai/tts/websocket"
        )
        return CartesiaTTSService(
            api_key=_key(stage),
            url=url,
            sample_rate=sample_rate,
            settings=CartesiaTTSService.Settings(model=stage.model or "sonic-2", voice=voice),
        )
    if stage.provider == "elevenlabs":
        url = (
            stage.base_url.replace("http", "ws", 1)
            if stage.base_url
            else ("wss://api.elevenlabs.io")
        )
        return ElevenLabsTTSService(
            api_key=_key(stage),
            url=url,
            sample_rate=sample_rate,
            settings=ElevenLabsTTSService.Settings(
                model=stage.model or "eleven_flash_v2_5", voice=voice or "default"
            ),
        )
    raise KeyNotFound(f"no TTS service for provider {stage.provider}")


def build_service(
    stage: ResolvedStage, *, sample_rate: int, system_instruction: str | None = None
) -> FrameProcessor:
    if stage.stage == "stt":
        return _build_stt(stage, sample_rate)
    if stage.stage == "llm":
        return _build_llm(stage, system_instruction)
    return _build_tts(stage, sample_rate)


def build_services(
    stages: dict[Stage, ResolvedStage], *, sample_rate: int, system_instruction: str | None = None
) -> StageServices:
    missing = [name for name in ("stt", "llm", "tts") if name not in stages]
    if missing:
        raise KeyNotFound(f"no resolved key for {', '.join(missing)}")
    return StageServices(
        stt=build_service(stages["stt"], sample_rate=sample_rate),
        llm=_build_llm(stages["llm"], system_instruction),
        tts=build_service(stages["tts"], sample_rate=sample_rate),
    )


async def rekey(service: FrameProcessor, stage: ResolvedStage, *, sample_rate: int) -> None:
    """Point a running service at `stage`'s key (same provider) and reconnect if needed.

    A fresh instance is built with the new key and its client or key is moved over, so the
    provider-specific URL handling stays in one place (the constructors above).
    """
    fresh: Any = build_service(stage, sample_rate=sample_rate)
    target: Any = service
    if stage.stage == "llm" or hasattr(fresh, "_client") and stage.stage == "stt":
        target._client = fresh._client
    else:
        target._api_key = fresh._api_key
    if stage.stage != "llm" and hasattr(target, "_disconnect"):
        await target._disconnect()
    if not target.is_usable:
        await target.set_usable(True)
    if stage.stage != "llm" and hasattr(target, "_connect"):
        await target._connect()
