"""Canonical encodings of a `SecretContext`: AAD bytes for AES-GCM, a string map for KMS.

Fields are length-prefixed rather than joined, so `("ab", "c")` and `("a", "bc")` can never
encode to the same bytes (joining without separators would let a ciphertext be moved between
rows whose concatenated ids happen to collide).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

from voxroute.vault.context import SecretContext

_AAD_LABEL = "voxroute/aad"
_MAX_PART = 0xFFFFFFFF


def encode_parts(parts: Iterable[str | bytes]) -> bytes:
    """Injective encoding of a sequence: a 4-byte count, then each part as 4-byte length + bytes."""
    chunks: list[bytes] = []
    for part in parts:
        raw = part.encode("utf-8") if isinstance(part, str) else bytes(part)
        if len(raw) > _MAX_PART:
            raise ValueError("AAD part too long")
        chunks.append(struct.pack(">I", len(raw)) + raw)
    return struct.pack(">I", len(chunks)) + b"".join(chunks)


def build_aad(ctx: SecretContext, format_version: int) -> bytes:
    """AAD of the value ciphertext: label, format version and every context field, in order."""
    return encode_parts(
        (
            _AAD_LABEL,
            str(format_version),
            ctx.purpose,
            ctx.org_id,
            ctx.credential_id,
            ctx.provider,
            ctx.field,
            str(ctx.credential_version),
        )
    )


def wrap_context(ctx: SecretContext, format_version: int) -> dict[str, str]:
    """The same binding as a string map, the shape KMS `EncryptionContext` expects.

    KMS logs the encryption context in CloudTrail, which is why only non-secret ids go in it.
    """
    return {
        "vxr_format": str(format_version),
        "purpose": ctx.purpose,
        "org_id": ctx.org_id,
        "credential_id": ctx.credential_id,
        "provider": ctx.provider,
        "field": ctx.field,
        "credential_version": str(ctx.credential_version),
    }


def encode_context(context: Mapping[str, str]) -> bytes:
    """Canonical bytes of a string map (sorted keys, length-prefixed), for use as AAD."""
    items = sorted(context.items())
    return encode_parts(part for item in items for part in item)
