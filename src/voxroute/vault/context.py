"""`SecretContext`: where a sealed value belongs. It is bound into every ciphertext as AAD."""

from __future__ import annotations

from dataclasses import dataclass

PURPOSE_CREDENTIAL = "credential"


@dataclass(frozen=True, slots=True)
class SecretContext:
    """Identifies one secret field of one credential version of one org.

    Every field ends up in the AES-GCM associated data and in the master-key wrapping context,
    so a blob copied to another org, credential, provider, field or version fails to open.
    None of these values is secret; they may appear in logs and error messages.
    """

    org_id: str
    credential_id: str
    provider: str
    field: str
    credential_version: int
    purpose: str = PURPOSE_CREDENTIAL

    def __post_init__(self) -> None:
        for name in ("org_id", "credential_id", "provider", "field", "purpose"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"SecretContext.{name} must be a non-empty string")
        version = self.credential_version
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError("SecretContext.credential_version must be a positive integer")
