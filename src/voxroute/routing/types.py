"""What key resolution hands to a call: one `ResolvedStage` per pipeline stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from voxroute.usage import KeySource
from voxroute.vault.secret import Secret

__all__ = ["FAILURE_POLICIES", "STAGES", "FailurePolicy", "KeySource", "ResolvedStage", "Stage"]

Stage = Literal["stt", "llm", "tts"]
FailurePolicy = Literal["strict", "fallback_to_managed"]
FAILURE_POLICIES: tuple[FailurePolicy, ...] = ("strict", "fallback_to_managed")
STAGES: tuple[Stage, ...] = ("stt", "llm", "tts")


@dataclass(frozen=True, slots=True)
class ResolvedStage:
    """The provider, model and key that serve one stage of one call.

    `secrets` holds the decrypted fields (e.g. `api_key`; Azure also `region` is public) and is
    only ever kept in the memory of the worker serving the call.
    """

    stage: Stage
    provider: str
    model: str
    source: KeySource
    secrets: dict[str, Secret]
    credential_id: str | None = None
    credential_version: int | None = None
    public_fields: dict[str, str] = field(default_factory=dict)
    base_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    fallback_reason: str | None = None

    @property
    def api_key(self) -> Secret:
        """The primary secret (`api_key`, or Inworld's `bearer_token`)."""
        for name in ("api_key", "bearer_token", "auth_token"):
            if name in self.secrets:
                return self.secrets[name]
        raise KeyError(f"{self.provider} stage has no primary secret")

    def trace(self) -> dict[str, Any]:
        """The public, secret-free record stored on the call and shown in the API."""
        return {
            "stage": self.stage,
            "provider": self.provider,
            "model": self.model,
            "source": self.source,
            "credential_id": self.credential_id,
            "credential_version": self.credential_version,
            "fallback_reason": self.fallback_reason,
        }
