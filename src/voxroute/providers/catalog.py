"""The provider catalog (packaged `config/providers.toml`): ids, fields, models, voices, probes."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from voxroute.errors import ConfigError, InvalidInput
from voxroute.vault.redaction import MIN_KEY_LENGTH, looks_like_key

Category = Literal["stt", "llm", "tts", "realtime", "email"]
CATEGORIES: tuple[Category, ...] = ("stt", "llm", "tts", "realtime", "email")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One credential field of a provider: secret (vaulted) or public, and its required format."""

    name: str
    kind: Literal["secret", "public"]
    pattern: str
    help: str = ""

    def check(self, provider: str, value: str) -> None:
        """Format check on save; the message never repeats the value.

        A secret must also look like a key: the log-masking registry is shared by every
        tenant of the process, so a word saved as a "key" must never get that far.
        """
        if not re.fullmatch(self.pattern, value):
            extra = f" ({self.help})" if self.help else ""
            raise InvalidInput(f"{provider} {self.name} has an invalid format{extra}")
        if self.kind == "secret" and not looks_like_key(value):
            raise InvalidInput(
                f"{provider} {self.name} does not look like a key: at least {MIN_KEY_LENGTH} "
                "characters without spaces, with letters and digits (or mixed case)"
            )


def split_fields(
    owner: str, specs: tuple[FieldSpec, ...], values: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """Validate submitted credential fields; return (secret, public) values.

    Every required field must be present and a string of the right format; unknown
    fields are refused so a typo never silently drops a value.
    """
    unknown = sorted(set(values) - {f.name for f in specs})
    if unknown:
        raise InvalidInput(f"unknown field(s) for {owner}: {', '.join(unknown)}")
    secret: dict[str, str] = {}
    public: dict[str, str] = {}
    for spec in specs:
        value = values.get(spec.name)
        if value is None or value == "":
            raise InvalidInput(f"{owner} requires field '{spec.name}'")
        if not isinstance(value, str):
            raise InvalidInput(f"{owner} field '{spec.name}' must be a string")
        spec.check(owner, value)
        (secret if spec.kind == "secret" else public)[spec.name] = value
    return secret, public


@dataclass(frozen=True, slots=True)
class CarrierSpec:
    """A telephony carrier's account credential (e.g. Twilio's AccountSid + auth token)."""

    id: str
    name: str
    fields: tuple[FieldSpec, ...]
    number_pattern: str
    account_pattern: str

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def split_fields(self, values: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        return split_fields(self.id, self.fields, values)


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider as the catalog has it: categories, credential fields, models, voices, probe."""

    id: str
    name: str
    categories: tuple[Category, ...]
    docs_url: str
    fields: tuple[FieldSpec, ...]
    probe: str
    models: dict[str, tuple[str, ...]]
    default_models: dict[str, str]
    voices: tuple[str, ...] = field(default_factory=tuple)
    voice_pattern: str | None = None

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.kind == "secret")

    @property
    def public_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.kind == "public")

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def split_fields(self, values: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        """Validate submitted credential fields; return (secret, public) values."""
        return split_fields(self.id, self.fields, values)

    def default_model(self, category: str) -> str:
        try:
            return self.default_models[category]
        except KeyError:
            raise InvalidInput(f"{self.id} does not offer {category}") from None

    def public_view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "category": self.categories[0],
            "categories": list(self.categories),
            "docs_url": self.docs_url,
            "required_fields": [f.name for f in self.fields],
            "public_fields": list(self.public_fields),
            "models": {cat: list(models) for cat, models in self.models.items()},
            "default_models": dict(self.default_models),
            "voices": list(self.voices),
        }


@dataclass(frozen=True, slots=True)
class Formats:
    """Shapes of stage options shared by every provider (`[formats]`)."""

    language: str = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$"
    voice: str = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,99}$"


class Catalog:
    """Read-only view of every known provider, in file order."""

    def __init__(
        self,
        providers: dict[str, ProviderSpec],
        carriers: dict[str, CarrierSpec] | None = None,
        formats: Formats | None = None,
    ) -> None:
        self._providers = providers
        self._carriers = carriers or {}
        self.formats = formats or Formats()

    def check_voice(self, provider: str, voice: str) -> None:
        """A voice id must have the provider's documented shape (it goes into its URLs)."""
        pattern = self.get(provider).voice_pattern or self.formats.voice
        if not re.fullmatch(pattern, voice):
            raise InvalidInput(f"{provider} voice_id has an invalid format (expected {pattern})")

    def check_language(self, language: str) -> None:
        if not re.fullmatch(self.formats.language, language):
            raise InvalidInput("language must be a language tag such as en or en-US")

    def check_model(self, provider: str, category: str, model: str) -> None:
        known = self.get(provider).models.get(category)
        if known and model not in known:
            raise InvalidInput(f"unknown {provider} {category} model '{model}'")

    def __iter__(self) -> Any:
        return iter(self._providers.values())

    def __contains__(self, provider_id: object) -> bool:
        return provider_id in self._providers

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._providers)

    def get(self, provider_id: str) -> ProviderSpec:
        try:
            return self._providers[provider_id]
        except KeyError:
            raise InvalidInput(f"unknown provider '{provider_id}'") from None

    def carrier(self, carrier_id: str) -> CarrierSpec:
        try:
            return self._carriers[carrier_id]
        except KeyError:
            raise InvalidInput(f"unknown telephony provider '{carrier_id}'") from None

    def for_category(self, category: str) -> list[ProviderSpec]:
        return [p for p in self._providers.values() if category in p.categories]


def parse_catalog(data: dict[str, Any]) -> Catalog:
    """Build a `Catalog` from the parsed TOML; a malformed entry is a `ConfigError` at start-up."""
    providers: dict[str, ProviderSpec] = {}
    try:
        for pid, raw in data["providers"].items():
            categories = tuple(raw["categories"])
            for category in categories:
                if category not in CATEGORIES:
                    raise ValueError(f"{pid}: unknown category {category}")
            providers[pid] = ProviderSpec(
                id=pid,
                name=raw["name"],
                categories=categories,
                docs_url=raw["docs_url"],
                fields=tuple(FieldSpec(**f) for f in raw["fields"]),
                probe=raw["probe"],
                models={cat: tuple(m) for cat, m in raw.get("models", {}).items()},
                default_models=dict(raw.get("default_models", {})),
                voices=tuple(raw.get("voices", ())),
                voice_pattern=raw.get("voice_pattern"),
            )
            patterns = [(f.name, f.pattern) for f in providers[pid].fields]
            patterns.append(("voice_pattern", providers[pid].voice_pattern or ""))
            re_errors = [name for name, pattern in patterns if not _compiles(pattern)]
            if re_errors:
                raise ValueError(f"{pid}: bad pattern for {re_errors}")
        carriers = {
            cid: CarrierSpec(
                id=cid,
                name=raw["name"],
                fields=tuple(FieldSpec(**f) for f in raw["fields"]),
                number_pattern=raw["number_pattern"],
                account_pattern=raw["account_pattern"],
            )
            for cid, raw in data.get("carriers", {}).items()
        }
        for carrier in carriers.values():
            carrier_patterns = [
                carrier.number_pattern,
                carrier.account_pattern,
                *(f.pattern for f in carrier.fields),
            ]
            if not all(_compiles(p) for p in carrier_patterns):
                raise ValueError(f"{carrier.id}: bad pattern")
        formats = Formats(**data.get("formats", {}))
        if not (_compiles(formats.language) and _compiles(formats.voice)):
            raise ValueError("bad pattern in [formats]")
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid provider catalog: {exc}") from None
    return Catalog(providers, carriers, formats)


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


@cache
def load_catalog() -> Catalog:
    """The packaged catalog, parsed once per process."""
    text = resources.files("voxroute").joinpath("config/providers.toml").read_text("utf-8")
    return parse_catalog(tomllib.loads(text))
