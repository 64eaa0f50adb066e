"""Reading a `ResolvedStage` the same way in every adapter.

Secrets are revealed only here, at the last moment before a pipecat constructor, and a
missing or empty one raises `KeyNotFound` *before* anything is constructed: pipecat and
the provider SDKs treat ``api_key=None`` as "read OPENAI_API_KEY / DEEPGRAM_API_KEY from
the environment", which under BYOK would silently bill the platform.
"""

from __future__ import annotations

from voxroute.errors import InvalidInput, KeyNotFound
from voxroute.providers.catalog import load_catalog
from voxroute.routing.types import ResolvedStage

__all__ = ["option", "public_field", "require_secret", "voice_for"]


def require_secret(stage: ResolvedStage, name: str = "api_key") -> str:
    """The revealed value of secret field ``name``; `KeyNotFound` if absent or empty."""
    secret = stage.secrets.get(name)
    if secret is None or not secret.reveal():
        raise KeyNotFound(f"{stage.provider} {stage.stage} stage has no '{name}' secret")
    return secret.reveal()


def public_field(stage: ResolvedStage, name: str) -> str:
    """A required public credential field (e.g. Azure ``region``)."""
    value = stage.public_fields.get(name, "")
    if not value:
        raise KeyNotFound(f"{stage.provider} {stage.stage} stage has no '{name}' field")
    return value


def option(stage: ResolvedStage, *names: str) -> str | None:
    """The first non-empty string option among ``names`` (assistant config, per call)."""
    for name in names:
        value = stage.options.get(name)
        if value is not None and value != "":
            if not isinstance(value, str):
                raise InvalidInput(f"{stage.provider} option '{name}' must be a string")
            return value
    return None


def voice_for(stage: ResolvedStage) -> str:
    """``options["voice_id"|"voice"]``, else the catalog's first voice for the provider."""
    chosen = option(stage, "voice_id", "voice")
    if chosen:
        return chosen
    voices = load_catalog().get(stage.provider).voices
    if not voices:
        raise InvalidInput(f"{stage.provider} has no default voice; set options.voice_id")
    return voices[0]
