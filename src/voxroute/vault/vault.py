"""`Vault`: the one object the rest of voxroute uses to seal and open secrets."""

from __future__ import annotations

from dataclasses import dataclass, field

from voxroute.errors import DecryptionError
from voxroute.vault import blob as blob_format
from voxroute.vault import envelope
from voxroute.vault.context import SecretContext
from voxroute.vault.master.base import MasterKeyProvider
from voxroute.vault.secret import Secret


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """What to store in a `credential_secrets` row: the blob and the master key it needs."""

    blob: bytes = field(repr=False)
    master_key_id: str
    master_key_version: int


class Vault:
    """Seals `Secret` values for storage and opens them again, bound to a `SecretContext`."""

    def __init__(self, provider: MasterKeyProvider) -> None:
        self._provider = provider

    def __repr__(self) -> str:
        return f"Vault({self._provider!r})"

    @property
    def provider(self) -> MasterKeyProvider:
        return self._provider

    async def seal(self, value: Secret, ctx: SecretContext) -> SealedSecret:
        """Encrypt under a fresh data key; the same value sealed twice gives different blobs."""
        if not isinstance(value, Secret):
            raise TypeError("Vault.seal takes a Secret")
        sealed = await envelope.seal(value.reveal().encode("utf-8"), ctx, self._provider)
        return _sealed(sealed)

    async def open(self, blob: bytes, ctx: SecretContext) -> Secret:
        """Decrypt a blob sealed for exactly this context.

        Raises `DecryptionError` (tampered, malformed, moved) or `MasterKeyError` (the master
        key version is unknown or retired); messages carry no secret or key material.
        """
        plaintext = await envelope.open_envelope(blob_format.parse(blob), ctx, self._provider)
        try:
            return Secret(plaintext.decode("utf-8"))
        except UnicodeDecodeError:
            raise DecryptionError("sealed secret is not UTF-8 text") from None

    async def rewrap(self, blob: bytes, ctx: SecretContext) -> SealedSecret:
        """Move a blob to the primary master version without changing its plaintext."""
        return _sealed(await envelope.rewrap(blob_format.parse(blob), ctx, self._provider))

    @staticmethod
    def inspect(blob: bytes) -> SealedSecret:
        """Read a blob's master key id and version without any key (for jobs and tools)."""
        parsed = blob_format.parse(blob)
        return SealedSecret(bytes(blob), parsed.master_key_id, parsed.master_key_version)


def _sealed(env: blob_format.Envelope) -> SealedSecret:
    return SealedSecret(env.pack(), env.master_key_id, env.master_key_version)
