"""The master-key provider interface: wraps and unwraps data keys, manages key versions.

A provider is one logical master key (`key_id`) with numbered versions. Versions move through
Tink-like phases, always forward:

    staged ──promote──▶ primary ──(a newer version is promoted)──▶ decrypt-only ──retire──▶ retired

* staged: usable to unwrap, never to wrap. Every process learns the new version before any
  process writes with it, so a reader that has only the staged key can still read what the
  version wrote once promoted.
* primary: exactly one; every new wrap uses it.
* decrypt-only (state "active"): a former primary, still readable while rows are re-wrapped.
* retired: unusable; blobs wrapped under it fail to open. Retire only once no row uses it
  (`voxroute.credentials.rotation.retire_version` checks that).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

DEK_LEN = 32

WrapContext = Mapping[str, str]


class KeyState(StrEnum):
    """Phase of one master-key version."""

    STAGED = "staged"
    PRIMARY = "primary"
    ACTIVE = "active"
    RETIRED = "retired"

    @property
    def can_unwrap(self) -> bool:
        return self is not KeyState.RETIRED

    @property
    def can_wrap(self) -> bool:
        return self is KeyState.PRIMARY


@dataclass(frozen=True, slots=True)
class KeyVersion:
    """Public facts about one version; never the key material itself."""

    version: int
    state: KeyState
    created_at: str
    reference: str | None = None


class MasterKeyProvider(ABC):
    """Wraps data keys under a versioned master key, bound to a context map."""

    @property
    @abstractmethod
    def key_id(self) -> str:
        """Stable id of this master key, recorded on every row it protects."""

    @property
    @abstractmethod
    def current_version(self) -> int:
        """The primary version: the one new wraps use."""

    @abstractmethod
    def versions(self) -> tuple[KeyVersion, ...]:
        """Every known version, oldest first."""

    @abstractmethod
    async def wrap(self, dek: bytes, context: WrapContext) -> tuple[int, bytes]:
        """Wrap `dek` under the primary version; return (version, wrapped)."""

    @abstractmethod
    async def unwrap(self, version: int, wrapped: bytes, context: WrapContext) -> bytes:
        """Recover a data key; `DecryptionError` if it or its context was tampered with."""

    @abstractmethod
    async def add_version(self, key_ref: str | None = None) -> int:
        """Add a staged version. `key_ref` is provider-specific (a KMS key id for aws_kms)."""

    @abstractmethod
    async def promote(self, version: int) -> None:
        """Make a staged or decrypt-only version primary; the old primary becomes decrypt-only."""

    @abstractmethod
    async def retire(self, version: int) -> None:
        """Make a non-primary version unusable (its material is destroyed where we hold it)."""

    @abstractmethod
    async def reload(self) -> None:
        """Re-read persisted state written by another process."""
