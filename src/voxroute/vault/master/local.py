"""The embedded master-key provider: a versioned keyring file on the local disk.

Each version is 32 random bytes (base64 in the file). A data key is wrapped with AES-256-GCM
under the primary version, with the wrap context (and the key id and version) as AAD, so a
wrapped key copied to another row does not unwrap. Retiring a version deletes its bytes from
the file: retirement is meant to be final.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voxroute.errors import DecryptionError, MasterKeyError
from voxroute.vault.aad import encode_context, encode_parts
from voxroute.vault.master.base import DEK_LEN, WrapContext
from voxroute.vault.master.ringfile import RingFile
from voxroute.vault.master.versioned import RingBackedProvider

KEY_LEN = 32
_NONCE_LEN = 12
_WRAPPED_LEN = _NONCE_LEN + DEK_LEN + 16


def _validate_key(ref: str) -> None:
    """Raise ValueError (never quoting the key) unless `ref` is base64 of exactly 32 bytes."""
    try:
        raw = base64.b64decode(ref.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError("key is not valid base64") from None
    if len(raw) != KEY_LEN:
        raise ValueError(f"key is {len(raw)} bytes; a master key must be {KEY_LEN} bytes")


def _new_key() -> str:
    return base64.b64encode(os.urandom(KEY_LEN)).decode("ascii")


class LocalKeyring(RingBackedProvider):
    """Master key versions held in a 0600 JSON keyring file."""

    key_prefix = "local"
    destroy_on_retire = True
    public_references = False

    @classmethod
    def open(cls, path: Path) -> LocalKeyring:
        """Load the keyring at `path`, creating it (0600, one primary version) on first run."""
        ring_file = RingFile(path, kind="local", ref_field="key", validate=_validate_key)
        ring, stamp = ring_file.load_or_create(_new_key)
        return cls(ring_file, ring, stamp)

    async def _new_ref(self, key_ref: str | None) -> str:
        if key_ref is None:
            return _new_key()
        try:
            _validate_key(key_ref)
        except ValueError as exc:
            raise MasterKeyError(f"new local master key rejected: {exc}") from None
        return key_ref

    def _aad(self, version: int, context: WrapContext) -> bytes:
        return encode_parts(("voxroute/dek", self.key_id, str(version), encode_context(context)))

    async def _wrap_with(self, ref: str, version: int, dek: bytes, context: WrapContext) -> bytes:
        nonce = os.urandom(_NONCE_LEN)
        aead = AESGCM(base64.b64decode(ref))
        return nonce + aead.encrypt(nonce, dek, self._aad(version, context))

    async def _unwrap_with(
        self, ref: str, version: int, wrapped: bytes, context: WrapContext
    ) -> bytes:
        if len(wrapped) != _WRAPPED_LEN:
            raise DecryptionError("wrapped data key has the wrong length")
        aead = AESGCM(base64.b64decode(ref))
        try:
            return aead.decrypt(
                wrapped[:_NONCE_LEN], wrapped[_NONCE_LEN:], self._aad(version, context)
            )
        except InvalidTag:
            raise DecryptionError(
                "data key did not unwrap: tampered data or a blob moved to another row"
            ) from None
