"""The sealed-blob format: strict parsing, typed errors, and past formats stay readable."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vault_helpers import make_ctx

from voxroute.errors import DecryptionError
from voxroute.vault import LocalKeyring, Secret, Vault
from voxroute.vault.blob import CURRENT_FORMAT, Envelope, parse

DATA = Path(__file__).parent / "data"


def _sample() -> Envelope:
    return Envelope(1, "local:kr_x", 3, b"w" * 60, b"n" * 12, b"c" * 40)


def test_pack_and_parse_are_inverse() -> None:
    env = _sample()
    assert parse(env.pack()) == env


def test_every_truncation_raises_decryption_error() -> None:
    blob = _sample().pack()
    for cut in range(len(blob)):
        with pytest.raises(DecryptionError):
            parse(blob[:cut])


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(DecryptionError, match="trailing"):
        parse(_sample().pack() + b"\x00")


@pytest.mark.parametrize("version", [0, 2, 7, 255])
def test_unknown_format_versions_are_refused_with_a_typed_error(version: int) -> None:
    blob = bytes([version]) + _sample().pack()[1:]
    with pytest.raises(DecryptionError, match=f"unknown sealed secret format version {version}"):
        parse(blob)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x01",
        b"\x01\xff\xff",
        b"\x01\x00\x02\xff\xfe" + b"\x00" * 40,  # key id not UTF-8
        Envelope(1, "k", 1, b"w", b"n" * 11, b"c" * 20).pack(),  # short nonce
        Envelope(1, "k", 1, b"w", b"n" * 12, b"c" * 15).pack(),  # no room for a tag
        Envelope(1, "k", 0, b"w", b"n" * 12, b"c" * 20).pack(),  # version 0
    ],
)
def test_malformed_blobs_raise_decryption_error(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        parse(blob)


def test_a_huge_declared_length_is_a_typed_error_not_a_crash() -> None:
    blob = _sample().pack()
    with pytest.raises(DecryptionError):
        parse(blob[:-44] + struct.pack(">I", 0xFFFFFFFF) + b"c" * 40)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes) -> None:
    with contextlib.suppress(DecryptionError):
        parse(data)


async def test_a_blob_of_format_v1_written_by_an_earlier_release_still_opens(
    tmp_path: Path,
) -> None:
    keyring = tmp_path / "keyring.json"
    shutil.copy(DATA / "keyring_v1.json", keyring)
    os.chmod(keyring, 0o600)
    vault = Vault(LocalKeyring.open(keyring))
    blob = bytes.fromhex((DATA / "sealed_v1.hex").read_text().strip())
    assert blob[0] == 1
    ctx = make_ctx(
        org_id="org_fixture", credential_id="cred_fixture", provider="openai", field="api_key"
    )
    opened = await vault.open(blob, ctx)
    assert opened == Secret("sk-fixture-format-v1-0123456789abcdef")


def test_the_current_format_has_a_fixture() -> None:
    # When CURRENT_FORMAT moves on, add sealed_v<N>.hex so the new format is pinned too.
    assert (DATA / f"sealed_v{CURRENT_FORMAT}.hex").exists()


async def test_opening_any_truncation_of_a_real_blob_is_a_decryption_error(vault: Vault) -> None:
    ctx = make_ctx()
    blob = (await vault.seal(Secret("sk-truncation-test-0123456789"), ctx)).blob
    for cut in range(len(blob)):
        with pytest.raises(DecryptionError):
            await vault.open(blob[:cut], ctx)
    with pytest.raises(DecryptionError):
        await vault.open(blob + b"\x00", ctx)
