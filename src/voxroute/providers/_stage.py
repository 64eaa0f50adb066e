"""`ServiceKey`, what an adapter needs to build one call's service, and the one way to read it.

The providers package owns this value, so adapters depend on nothing in `routing`: the
factory turns whatever resolution hands over (`routing.types.ResolvedStage` matches
`KeyedStage`) into a `ServiceKey` once.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import quote

from voxroute.errors import InvalidInput, KeyNotFound
from voxroute.providers.catalog import load_catalog
from voxroute.vault.secret import Secret

__all__ = [
    "KeyedStage",
    "Modality",
    "ServiceKey",
    "language_for",
    "model_for",
    "option",
    "public_field",
    "require_secret",
    "url_component",
    "voice_for",
]

Modality = Literal["stt", "llm", "tts"]
# A model id no catalog lists (e.g. a fine-tune): letters, digits and `._:-` only.
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


def url_component(value: str) -> str:
    """`value` percent-encoded for one path segment or query value.

    A no-op on the shapes the catalog allows; a guard should a pattern ever be loosened.
    """
    return quote(value, safe="-_.~:")


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """Everything an adapter needs to build one call's service.

    The provider, modality and model, the key's fields (secret and public), the endpoint
    override (emulators, tests) and the assistant's stage options.
    """

    provider: str
    modality: Modality
    model: str
    secrets: Mapping[str, Secret]
    public_fields: Mapping[str, str] = field(default_factory=dict)
    base_url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class KeyedStage(Protocol):
    """The shape of a resolved stage as the factory reads it."""

    @property
    def stage(self) -> Modality: ...
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def secrets(self) -> Mapping[str, Secret]: ...
    @property
    def public_fields(self) -> Mapping[str, str]: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def options(self) -> Mapping[str, Any]: ...


def service_key(stage: KeyedStage) -> ServiceKey:
    return ServiceKey(
        provider=stage.provider,
        modality=stage.stage,
        model=stage.model,
        secrets=stage.secrets,
        public_fields=stage.public_fields,
        base_url=stage.base_url,
        options=stage.options,
    )


def require_secret(key: ServiceKey, name: str = "api_key") -> str:
    """The revealed value of secret field ``name``; `KeyNotFound` if absent or empty."""
    secret = key.secrets.get(name)
    if secret is None or not secret.reveal():
        raise KeyNotFound(f"{key.provider} {key.modality} stage has no '{name}' secret")
    return secret.reveal()


def public_field(key: ServiceKey, name: str) -> str:
    """A required public credential field (e.g. Azure ``region``)."""
    value = key.public_fields.get(name, "")
    if not value:
        raise KeyNotFound(f"{key.provider} {key.modality} stage has no '{name}' field")
    return value


def option(key: ServiceKey, *names: str) -> str | None:
    """The first non-empty string option among ``names`` (assistant config, per call)."""
    for name in names:
        value = key.options.get(name)
        if value is not None and value != "":
            if not isinstance(value, str):
                raise InvalidInput(f"{key.provider} option '{name}' must be a string")
            return value
    return None


def voice_for(key: ServiceKey, default: str | None = None) -> str:
    """``options["voice_id"|"voice"]``, else `default`, else the catalog's first voice.

    Checked against the provider's voice format and percent-encoded.
    """
    chosen = option(key, "voice_id", "voice")
    if chosen:
        load_catalog().check_voice(key.provider, chosen)
        return url_component(chosen)
    if default:
        return model_for(key, default)
    voices = load_catalog().get(key.provider).voices
    if not voices:
        raise InvalidInput(f"{key.provider} has no default voice; set options.voice_id")
    return voices[0]


def model_for(key: ServiceKey, model: str | None = None) -> str:
    """The stage's model: one the catalog lists for the stage, or a plain model id."""
    model = key.model if model is None else model
    known = load_catalog().get(key.provider).models.get(key.modality, ())
    if model not in known and not _MODEL.fullmatch(model):
        raise InvalidInput(f"{key.provider} model has an invalid format")
    return url_component(model)


def language_for(key: ServiceKey, default: str) -> str:
    """``options["language"]`` (a language tag) or `default`."""
    language = option(key, "language")
    if language is None:
        return default
    load_catalog().check_language(language)
    return url_component(language)
