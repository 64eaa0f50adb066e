"""How to ask each provider, cheaply, whether a key works (the catalog's ``probe``).

The method and path come from ``voxroute/config/providers.toml``; this table adds what the catalog
does not say: the real host, how the key is presented, and the answers that look like a
refusal but mean "valid key with restricted scope".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from voxroute.providers.azure._endpoints import issue_token_url
from voxroute.providers.urls import join_url, resolve_base

__all__ = ["PROBES", "Probe"]

Headers = Callable[[Mapping[str, str]], dict[str, str]]


def _bearer(values: Mapping[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {values['api_key']}"}


def _token(values: Mapping[str, str]) -> dict[str, str]:
    return {"Authorization": f"Token {values['api_key']}"}


def _header(name: str, field_name: str = "api_key") -> Headers:
    def headers(values: Mapping[str, str]) -> dict[str, str]:
        return {name: values[field_name]}

    return headers


def _basic(values: Mapping[str, str]) -> dict[str, str]:
    # Inworld's portal credential is already Base64("key:secret"); sent verbatim.
    return {"Authorization": f"Basic {values['bearer_token']}"}


@dataclass(frozen=True, slots=True)
class Probe:
    """One provider's key check.

    ``restricted_ok`` lists (status, error code) answers that prove the key is genuine but
    scoped: ElevenLabs keys without ``user_read``, Resend send-only keys.
    ``bad_key_statuses`` adds statuses that mean "bad key" besides 401/403 (xAI uses 400).
    """

    default_base: str
    headers: Headers
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    restricted_ok: frozenset[tuple[int, str]] = frozenset()
    bad_key_statuses: frozenset[int] = frozenset()
    region_scoped: bool = False

    def url(self, path: str, base_url: str | None, public: Mapping[str, str]) -> str:
        """The probe URL on the real host or under the override."""
        if self.region_scoped:
            return issue_token_url(public.get("region", ""), base_url)
        return join_url(resolve_base(base_url, self.default_base), path)


PROBES: dict[str, Probe] = {
    "openai": Probe("https://api.openai.com", _bearer),
    "xai": Probe("https://api.x.ai", _bearer, bad_key_statuses=frozenset({400})),
    "deepgram": Probe("https://api.deepgram.com", _token),
    "elevenlabs": Probe(
        "https://api.elevenlabs.io",
        _header("xi-api-key"),
        restricted_ok=frozenset({(401, "missing_permissions"), (403, "missing_permissions")}),
    ),
    "cartesia": Probe(
        "https://api.cartesia.ai",
        _header("X-API-Key"),
        # The API version pipecat's Cartesia service is written against.
        extra_headers={"Cartesia-Version": "2026-03-01"},
    ),
    "azure": Probe("", _header("Ocp-Apim-Subscription-Key"), region_scoped=True),
    "inworld": Probe("https://api.inworld.ai", _basic),
    "resemble": Probe("https://app.resemble.ai", _bearer),
    "resend": Probe(
        "https://api.resend.com",
        _bearer,
        restricted_ok=frozenset({(401, "restricted_api_key")}),
    ),
}
