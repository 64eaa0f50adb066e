"""Per-call service construction: ``stage.provider`` → the adapter of that modality.

Each build takes the call's resolved stage (key, model, endpoint override, options; read once
into the providers' own `ServiceKey`, which is all an adapter sees) and
the worker's shared `ProviderResources`; nothing is read from the process environment.
A missing secret raises `KeyNotFound` before any pipecat class is constructed; a provider
that does not offer the modality raises `InvalidInput`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voxroute.errors import InvalidInput
from voxroute.providers._stage import KeyedStage, service_key
from voxroute.providers.azure.stt import AzureSTT
from voxroute.providers.azure.tts import AzureTTS
from voxroute.providers.cartesia.tts import CartesiaTTS
from voxroute.providers.deepgram.stt import DeepgramSTT
from voxroute.providers.deepgram.tts import DeepgramTTS
from voxroute.providers.elevenlabs.tts import ElevenLabsTTS
from voxroute.providers.inworld.tts import InworldTTS
from voxroute.providers.openai.llm import OpenAILLM
from voxroute.providers.openai.tts import OpenAITTS
from voxroute.providers.resemble.tts import ResembleTTS
from voxroute.providers.xai.llm import XAILLM

if TYPE_CHECKING:
    from pipecat.services.llm_service import LLMService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService

    from voxroute.providers._base import LLMAdapter, STTAdapter, TTSAdapter
    from voxroute.providers.resources import ProviderResources

__all__ = ["LLM_PROVIDERS", "STT_PROVIDERS", "TTS_PROVIDERS", "build_llm", "build_stt", "build_tts"]

_STT_ADAPTERS: tuple[type[STTAdapter], ...] = (DeepgramSTT, AzureSTT)
_LLM_ADAPTERS: tuple[type[LLMAdapter], ...] = (OpenAILLM, XAILLM)
_TTS_ADAPTERS: tuple[type[TTSAdapter], ...] = (
    DeepgramTTS,
    OpenAITTS,
    ElevenLabsTTS,
    CartesiaTTS,
    AzureTTS,
    InworldTTS,
    ResembleTTS,
)
_STT = {a.provider: a for a in _STT_ADAPTERS}
_LLM = {a.provider: a for a in _LLM_ADAPTERS}
_TTS = {a.provider: a for a in _TTS_ADAPTERS}
STT_PROVIDERS: tuple[str, ...] = tuple(_STT)
LLM_PROVIDERS: tuple[str, ...] = tuple(_LLM)
TTS_PROVIDERS: tuple[str, ...] = tuple(_TTS)


def _adapter(table: dict[str, type], stage: KeyedStage, modality: str) -> type:
    if stage.stage != modality:
        raise InvalidInput(f"a {stage.stage} stage cannot build a {modality} service")
    try:
        return table[stage.provider]
    except KeyError:
        raise InvalidInput(f"provider '{stage.provider}' has no {modality} adapter") from None


def _check(resources: ProviderResources) -> None:
    if resources.closed:
        raise RuntimeError("ProviderResources are closed; create them once per worker")


def build_stt(stage: KeyedStage, *, sample_rate: int, resources: ProviderResources) -> STTService:
    """The call's speech-to-text service, streaming linear16 at ``sample_rate``."""
    _check(resources)
    adapter: type[STTAdapter] = _adapter(_STT, stage, "stt")
    return adapter.build(service_key(stage), sample_rate=sample_rate, resources=resources)


def build_llm(stage: KeyedStage, *, resources: ProviderResources) -> LLMService[Any]:
    """The call's LLM service."""
    _check(resources)
    adapter: type[LLMAdapter] = _adapter(_LLM, stage, "llm")
    return adapter.build(service_key(stage), resources=resources)


def build_tts(stage: KeyedStage, *, sample_rate: int, resources: ProviderResources) -> TTSService:
    """The call's text-to-speech service, producing audio for a ``sample_rate`` pipeline."""
    _check(resources)
    adapter: type[TTSAdapter] = _adapter(_TTS, stage, "tts")
    return adapter.build(service_key(stage), sample_rate=sample_rate, resources=resources)
