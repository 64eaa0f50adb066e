"""Reading a `ResolvedStage` the same way in every adapter.

Secrets are revealed only here, at the last moment before a pipecat constructor, and a
missing or empty one raises `KeyNotFound` *before* anything is constructed: pipecat and
the provider SDKs treat ``api_key=None`` as "read OPENAI_API_KEY / DEEPGRAM_API_KEY from
the environment", which under BYOK would silently bill the platform.

Every value from an assistant config that a provider puts in a URL (voice, model, language)
is read through `voice_for`, `model_for` or `language_for`: checked against the catalog's
format again at the point of use (a stored row may predate the check on save) and
percent-encoded, so `../` or `?` never leave the path segment or parameter they belong in.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from voxroute.errors import InvalidInput, KeyNotFound
from voxroute.providers.catalog import load_catalog
from voxroute.routing.types import ResolvedStage

__all__ = [
    "language_for",
    "model_for",
    "option",
    "public_field",
    "require_secret",
    "url_component",
    "voice_for",
]

# A model id no catalog lists (e.g. a fine-tune): letters, digits and `._:-` only.
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


def url_component(value: str) -> str:
    """`value` percent-encoded for one path segment or query value (a no-op on the shapes
    the catalog allows; a guard should a pattern ever be loosened)."""
    return quote(value, safe="-_.~:")


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


def voice_for(stage: ResolvedStage, default: str | None = None) -> str:
    """``options["voice_id"|"voice"]``, else `default`, else the catalog's first voice;
    checked against the provider's voice format and percent-encoded."""
    chosen = option(stage, "voice_id", "voice")
    if chosen:
        load_catalog().check_voice(stage.provider, chosen)
        return url_component(chosen)
    if default:
        return model_for(stage, default)
    voices = load_catalog().get(stage.provider).voices
    if not voices:
        raise InvalidInput(f"{stage.provider} has no default voice; set options.voice_id")
    return voices[0]


def model_for(stage: ResolvedStage, model: str | None = None) -> str:
    """The stage's model: one the catalog lists for the stage, or a plain model id."""
    model = stage.model if model is None else model
    catalog = load_catalog()
    known = catalog.get(stage.provider).models.get(stage.stage, ())
    if model not in known and not _MODEL.fullmatch(model):
        raise InvalidInput(f"{stage.provider} model has an invalid format")
    return url_component(model)


def language_for(stage: ResolvedStage, default: str) -> str:
    """``options["language"]`` (a language tag) or `default`."""
    language = option(stage, "language")
    if language is None:
        return default
    load_catalog().check_language(language)
    return url_component(language)
