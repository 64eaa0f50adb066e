"""Envelope encryption: the value under a fresh data key, the data key under the master key.

Each seal draws a new data key; the value is sealed under AES-256-GCM and the data key
wrapped by the master-key provider. Both layers are bound to the same `SecretContext`.

Why envelope encryption: rotating the master key only re-wraps 60-200 byte data keys
(`rewrap`), never touches plaintext, and works the same when the master key lives in a KMS
that we can only call, not read.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from voxroute.errors import DecryptionError
from voxroute.vault.aad import build_aad, wrap_context
from voxroute.vault.blob import CURRENT_FORMAT, NONCE_LEN, Envelope
from voxroute.vault.context import SecretContext
from voxroute.vault.master.base import DEK_LEN, MasterKeyProvider

_TAMPERED = "sealed secret did not decrypt: tampered data or a blob moved to another row"


async def seal(plaintext: bytes, ctx: SecretContext, provider: MasterKeyProvider) -> Envelope:
    """Encrypt `plaintext` under a new random data key, wrapped by the provider's primary."""
    dek = AESGCM.generate_key(bit_length=DEK_LEN * 8)
    nonce = os.urandom(NONCE_LEN)
    ciphertext = AESGCM(dek).encrypt(nonce, plaintext, build_aad(ctx, CURRENT_FORMAT))
    version, wrapped = await provider.wrap(dek, wrap_context(ctx, CURRENT_FORMAT))
    return Envelope(CURRENT_FORMAT, provider.key_id, version, wrapped, nonce, ciphertext)


async def open_envelope(
    envelope: Envelope, ctx: SecretContext, provider: MasterKeyProvider
) -> bytes:
    """Decrypt; `DecryptionError` for tampering, a wrong context or another master key."""
    dek = await _unwrap(envelope, ctx, provider)
    try:
        return AESGCM(dek).decrypt(
            envelope.nonce, envelope.ciphertext, build_aad(ctx, envelope.format_version)
        )
    except (InvalidTag, ValueError):
        raise DecryptionError(_TAMPERED) from None


async def rewrap(envelope: Envelope, ctx: SecretContext, provider: MasterKeyProvider) -> Envelope:
    """Re-wrap the data key under the primary version; the value ciphertext is untouched.

    The plaintext is never materialised. A blob already under the primary is returned as is,
    so running the re-wrap job twice costs nothing.
    """
    if (
        envelope.master_key_id == provider.key_id
        and envelope.master_key_version == provider.current_version
    ):
        return envelope
    dek = await _unwrap(envelope, ctx, provider)
    version, wrapped = await provider.wrap(dek, wrap_context(ctx, envelope.format_version))
    return Envelope(
        envelope.format_version,
        provider.key_id,
        version,
        wrapped,
        envelope.nonce,
        envelope.ciphertext,
    )


async def _unwrap(envelope: Envelope, ctx: SecretContext, provider: MasterKeyProvider) -> bytes:
    if envelope.master_key_id != provider.key_id:
        raise DecryptionError(
            f"sealed under master key {envelope.master_key_id}, not {provider.key_id}"
        )
    dek = await provider.unwrap(
        envelope.master_key_version,
        envelope.wrapped_dek,
        wrap_context(ctx, envelope.format_version),
    )
    if len(dek) != DEK_LEN:
        raise DecryptionError(_TAMPERED)
    return dek
