"""The local keyring file: safe creation, strict loading, and the version phases."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from vault_helpers import fake_key, make_ctx

from voxroute.errors import DecryptionError, MasterKeyError
from voxroute.settings import Settings
from voxroute.vault import (
    KeyState,
    LocalKeyring,
    Secret,
    Vault,
    master_key_provider_from_settings,
    rotate_master_key,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write(path: Path, data: Any, mode: int = 0o600) -> None:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    os.chmod(path, mode)


def _ring(**version: Any) -> dict[str, Any]:
    entry = {"version": 1, "state": "primary", "created_at": "2025-01-01T00:00:00+00:00"}
    entry.update(version)
    return {"voxroute_keyring": 1, "kind": "local", "id": "kr_t", "versions": [entry]}


GOOD_KEY = base64.b64encode(b"k" * 32).decode()


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_the_keyring_is_created_owner_only_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "data" / "keyring.json"
    previous = os.umask(umask)
    try:
        keyring = LocalKeyring.open(path)
    finally:
        os.umask(previous)
    assert _mode(path) == 0o600
    assert keyring.current_version == 1
    assert [v.state for v in keyring.versions()] == [KeyState.PRIMARY]
    assert not list(path.parent.glob("*.tmp"))


def test_reopening_the_keyring_keeps_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    assert LocalKeyring.open(path).key_id == LocalKeyring.open(path).key_id


async def test_processes_starting_together_agree_on_one_keyring(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    opened = await asyncio.gather(*(asyncio.to_thread(LocalKeyring.open, path) for _ in range(8)))
    assert len({k.key_id for k in opened}) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_ring(key=base64.b64encode(b"k" * 16).decode()), "16 bytes; a master key must be 32"),
        (_ring(key=base64.b64encode(b"k" * 33).decode()), "33 bytes; a master key must be 32"),
        (_ring(key="not base64!!"), "not valid base64"),
        (_ring(key=GOOD_KEY[:-2]), "not valid base64"),
        (_ring(key=GOOD_KEY, colour="blue"), "unknown structure"),
        (_ring(), "has no key"),
        (_ring(key=GOOD_KEY, state="enabled"), "unknown state"),
        (_ring(key=GOOD_KEY, state="staged"), "exactly one primary"),
        ({**_ring(key=GOOD_KEY), "extra": 1}, "unknown structure"),
        ({**_ring(key=GOOD_KEY), "kind": "aws_kms"}, "expected 'local'"),
        ({**_ring(key=GOOD_KEY), "versions": []}, "no key versions"),
        ([1, 2, 3], "unknown structure"),
        ("{not json", "not valid JSON"),
    ],
)
def test_a_malformed_keyring_refuses_start_up_with_a_clear_message(
    tmp_path: Path, content: Any, message: str
) -> None:
    path = tmp_path / "keyring.json"
    _write(path, content)
    with pytest.raises(MasterKeyError, match="refusing to start") as caught:
        LocalKeyring.open(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert GOOD_KEY not in str(caught.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o666])
def test_a_keyring_readable_or_writable_by_others_refuses_start_up(
    tmp_path: Path, mode: int
) -> None:
    path = tmp_path / "keyring.json"
    LocalKeyring.open(path)
    os.chmod(path, mode)
    with pytest.raises(MasterKeyError, match=r"which lets group or others read or write it; run"):
        LocalKeyring.open(path)


def test_a_keyring_that_is_a_symlink_or_directory_refuses_start_up(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    LocalKeyring.open(real)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with pytest.raises(MasterKeyError, match="cannot be opened"):
        LocalKeyring.open(link)
    folder = tmp_path / "folder.json"
    folder.mkdir(mode=0o700)
    with pytest.raises(MasterKeyError):
        LocalKeyring.open(folder)


async def test_stage_promote_retire_moves_through_the_phases(local_keyring: LocalKeyring) -> None:
    staged = await local_keyring.add_version()
    assert staged == 2
    assert local_keyring.current_version == 1
    await local_keyring.promote(2)
    assert [(v.version, v.state) for v in local_keyring.versions()] == [
        (1, KeyState.ACTIVE),
        (2, KeyState.PRIMARY),
    ]
    await local_keyring.retire(1)
    assert local_keyring.versions()[0].state is KeyState.RETIRED


async def test_retiring_destroys_the_key_material_in_the_file(
    local_keyring: LocalKeyring, keyring_path: Path
) -> None:
    before = json.loads(await asyncio.to_thread(keyring_path.read_text))["versions"][0]["key"]
    await rotate_master_key(local_keyring)
    await local_keyring.retire(1)
    text = await asyncio.to_thread(keyring_path.read_text)
    assert before not in text
    assert _mode(keyring_path) == 0o600


async def test_forbidden_transitions_are_refused(local_keyring: LocalKeyring) -> None:
    with pytest.raises(MasterKeyError, match="is primary"):
        await local_keyring.retire(1)
    with pytest.raises(MasterKeyError, match="unknown master key version 5"):
        await local_keyring.promote(5)
    await rotate_master_key(local_keyring)
    await local_keyring.retire(1)
    with pytest.raises(MasterKeyError, match="retired and cannot be promoted"):
        await local_keyring.promote(1)
    with pytest.raises(MasterKeyError, match="not valid base64"):
        await local_keyring.add_version("@@@")


async def test_a_node_holding_only_the_staged_key_reads_what_the_promoted_key_wrote(
    keyring_path: Path, tmp_path: Path
) -> None:
    writer = LocalKeyring.open(keyring_path)
    await writer.add_version()
    # Roll the staged keyring out to another node (a copy it never re-reads from the writer).
    node_path = tmp_path / "node" / "keyring.json"
    node_path.parent.mkdir(mode=0o700)
    shutil.copy(keyring_path, node_path)
    reader = LocalKeyring.open(node_path)
    assert reader.current_version == 1
    assert [v.state for v in reader.versions()] == [KeyState.PRIMARY, KeyState.STAGED]
    await writer.promote(2)
    value, ctx = Secret(fake_key()), make_ctx()
    sealed = await Vault(writer).seal(value, ctx)
    assert sealed.master_key_version == 2
    assert await Vault(reader).open(sealed.blob, ctx) == value


async def test_another_process_picks_up_a_promotion_before_its_next_seal(
    keyring_path: Path,
) -> None:
    admin, worker = LocalKeyring.open(keyring_path), LocalKeyring.open(keyring_path)
    result = await rotate_master_key(admin)
    sealed = await Vault(worker).seal(Secret(fake_key()), make_ctx())
    assert sealed.master_key_version == result.new_version == 2


async def test_after_retirement_old_blobs_fail_and_new_blobs_work(
    local_keyring: LocalKeyring,
) -> None:
    vault, ctx = Vault(local_keyring), make_ctx()
    old = await vault.seal(Secret(fake_key()), ctx)
    await rotate_master_key(local_keyring)
    new_value = Secret(fake_key())
    new = await vault.seal(new_value, ctx)
    await local_keyring.retire(1)
    with pytest.raises(MasterKeyError, match="version 1 is retired"):
        await vault.open(old.blob, ctx)
    assert await vault.open(new.blob, ctx) == new_value


async def test_a_wrapped_key_of_the_wrong_length_is_a_decryption_error(
    local_keyring: LocalKeyring,
) -> None:
    with pytest.raises(DecryptionError, match="wrong length"):
        await local_keyring.unwrap(1, b"short", {})


def test_the_settings_factory_opens_the_configured_keyring(tmp_path: Path) -> None:
    provider = master_key_provider_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(provider, LocalKeyring)
    assert (tmp_path / "keyring.json").exists()
    custom = tmp_path / "elsewhere" / "ring.json"
    provider = master_key_provider_from_settings(Settings(data_dir=tmp_path, keyring_path=custom))
    assert _mode(custom) == 0o600
