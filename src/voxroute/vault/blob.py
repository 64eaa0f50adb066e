"""The self-describing binary format of a sealed value, and its strict parser.

Layout of format version 1 (all integers big-endian, every variable field length-prefixed)::

    u8   format version (1)
    u16  len | master key id (UTF-8)
    u32  master key version
    u16  len | wrapped data key
    u8   len | nonce (12 bytes)
    u32  len | AES-256-GCM ciphertext + 16-byte tag

The header fields are readable without any key, which is what lets the re-wrap job and
`retire_version` reason about blobs. They are not trusted for security: the format version is
bound into the AAD, and the master key id/version only select which key to try.
Any malformed input raises `DecryptionError`, never `IndexError` or `struct.error`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from voxroute.errors import DecryptionError

FORMAT_V1 = 1
CURRENT_FORMAT = FORMAT_V1
SUPPORTED_FORMATS = frozenset({FORMAT_V1})
NONCE_LEN = 12
TAG_LEN = 16
MAX_BLOB = 1 << 20


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed blob. Holds only ciphertext and public metadata, never key material."""

    format_version: int
    master_key_id: str
    master_key_version: int
    wrapped_dek: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)

    def pack(self) -> bytes:
        """Serialize; the inverse of `parse`."""
        if self.format_version != FORMAT_V1:
            raise ValueError("only the current format can be written")
        key_id = self.master_key_id.encode("utf-8")
        return b"".join(
            (
                struct.pack(">B", self.format_version),
                struct.pack(">H", len(key_id)),
                key_id,
                struct.pack(">I", self.master_key_version),
                struct.pack(">H", len(self.wrapped_dek)),
                self.wrapped_dek,
                struct.pack(">B", len(self.nonce)),
                self.nonce,
                struct.pack(">I", len(self.ciphertext)),
                self.ciphertext,
            )
        )


class _Reader:
    """Bounds-checked cursor: every short read becomes a `DecryptionError`."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise DecryptionError("sealed secret is truncated")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint(self, fmt: str) -> int:
        raw = self.take(struct.calcsize(fmt))
        (value,) = struct.unpack(fmt, raw)
        return int(value)

    def prefixed(self, fmt: str) -> bytes:
        return self.take(self.uint(fmt))

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise DecryptionError("sealed secret has trailing bytes")


def parse(blob: bytes) -> Envelope:
    """Parse and validate a blob of any supported format version."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError("sealed secret must be bytes")
    data = bytes(blob)
    if not data:
        raise DecryptionError("sealed secret is empty")
    if len(data) > MAX_BLOB:
        raise DecryptionError("sealed secret is too large")
    version = data[0]
    if version not in SUPPORTED_FORMATS:
        raise DecryptionError(f"unknown sealed secret format version {version}")
    return _parse_v1(data)


def _parse_v1(data: bytes) -> Envelope:
    reader = _Reader(data)
    reader.take(1)
    try:
        key_id = reader.prefixed(">H").decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("sealed secret has a malformed master key id") from None
    key_version = reader.uint(">I")
    wrapped = reader.prefixed(">H")
    nonce = reader.prefixed(">B")
    ciphertext = reader.prefixed(">I")
    reader.finish()
    if not key_id or key_version < 1 or not wrapped:
        raise DecryptionError("sealed secret has a malformed header")
    if len(nonce) != NONCE_LEN or len(ciphertext) < TAG_LEN:
        raise DecryptionError("sealed secret has a malformed body")
    return Envelope(FORMAT_V1, key_id, key_version, wrapped, nonce, ciphertext)
