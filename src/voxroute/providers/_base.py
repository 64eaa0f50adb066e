"""The shape every provider-modality adapter has: one class, one ``build`` classmethod."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from pipecat.services.llm_service import LLMService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService

    from voxroute.providers._stage import ServiceKey
    from voxroute.providers.resources import ProviderResources

__all__ = ["LLMAdapter", "STTAdapter", "TTSAdapter"]


class STTAdapter(Protocol):
    """Builds a speech-to-text service for one call from its `ServiceKey`."""

    provider: ClassVar[str]

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> STTService: ...


class LLMAdapter(Protocol):
    """Builds an LLM service for one call from its `ServiceKey`."""

    provider: ClassVar[str]

    @classmethod
    def build(cls, key: ServiceKey, *, resources: ProviderResources) -> LLMService[Any]: ...


class TTSAdapter(Protocol):
    """Builds a text-to-speech service for one call from its `ServiceKey`."""

    provider: ClassVar[str]

    @classmethod
    def build(
        cls, key: ServiceKey, *, sample_rate: int, resources: ProviderResources
    ) -> TTSService: ...
