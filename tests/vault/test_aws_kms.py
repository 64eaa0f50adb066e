"""AWS KMS as master-key provider, offline through moto."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from vault_helpers import fake_key, make_ctx

from voxroute.errors import DecryptionError, MasterKeyError, VaultError
from voxroute.settings import Settings
from voxroute.vault import (
    AwsKmsMasterKey,
    Secret,
    Vault,
    master_key_provider_from_settings,
    rotate_master_key,
)
from voxroute.vault.blob import parse


async def test_kms_wraps_the_data_key_with_the_context_as_encryption_context(
    aws: Any, kms_provider: AwsKmsMasterKey, kms_key_id: str
) -> None:
    ctx = make_ctx()
    sealed = await Vault(kms_provider).seal(Secret(fake_key()), ctx)
    wrapped = parse(sealed.blob).wrapped_dek
    with pytest.raises(aws.exceptions.InvalidCiphertextException):
        aws.decrypt(CiphertextBlob=wrapped, KeyId=kms_key_id)
    context = {
        "vxr_format": "1",
        "purpose": "credential",
        "org_id": ctx.org_id,
        "credential_id": ctx.credential_id,
        "provider": ctx.provider,
        "field": ctx.field,
        "credential_version": "1",
    }
    assert len(aws.decrypt(CiphertextBlob=wrapped, EncryptionContext=context)["Plaintext"]) == 32


async def test_a_tampered_wrapped_key_is_a_decryption_error(kms_provider: AwsKmsMasterKey) -> None:
    vault, ctx = Vault(kms_provider), make_ctx()
    env = parse((await vault.seal(Secret(fake_key()), ctx)).blob)
    flipped = bytearray(env.wrapped_dek)
    flipped[-1] ^= 0x01
    with pytest.raises(DecryptionError):
        await vault.open(dataclasses.replace(env, wrapped_dek=bytes(flipped)).pack(), ctx)


async def test_rotating_to_a_new_kms_key_keeps_old_blobs_readable_until_retired(
    aws: Any, kms_provider: AwsKmsMasterKey
) -> None:
    vault, ctx = Vault(kms_provider), make_ctx()
    old_value = Secret(fake_key())
    old = await vault.seal(old_value, ctx)
    new_key = aws.create_key(Description="voxroute test v2")["KeyMetadata"]["KeyId"]
    result = await rotate_master_key(kms_provider, key_ref=new_key)
    assert (result.previous_version, result.new_version) == (1, 2)
    assert kms_provider.versions()[1].reference == new_key
    assert await vault.open(old.blob, ctx) == old_value
    rewrapped = await vault.rewrap(old.blob, ctx)
    assert rewrapped.master_key_version == 2
    await kms_provider.retire(1)
    with pytest.raises(MasterKeyError, match="retired"):
        await vault.open(old.blob, ctx)
    assert await vault.open(rewrapped.blob, ctx) == old_value


async def test_a_new_version_needs_an_existing_kms_key(kms_provider: AwsKmsMasterKey) -> None:
    with pytest.raises(MasterKeyError, match="needs the id of the KMS key"):
        await kms_provider.add_version()
    with pytest.raises(MasterKeyError, match=r"AWS KMS describe failed \(NotFoundException\)"):
        await kms_provider.add_version("11111111-2222-3333-4444-555555555555")
    assert len(kms_provider.versions()) == 1


async def test_a_missing_kms_key_is_a_master_key_error(aws: Any, tmp_path: Path) -> None:
    provider = AwsKmsMasterKey.open(
        tmp_path / "k.json", initial_kms_key_id="alias/not-there", region="us-east-1"
    )
    with pytest.raises(MasterKeyError, match=r"AWS KMS encrypt failed \(NotFoundException\)"):
        await Vault(provider).seal(Secret(fake_key()), make_ctx())


def test_the_settings_factory_builds_the_kms_provider(
    aws: Any, kms_key_id: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, master_key_provider="aws_kms", aws_kms_key_id=kms_key_id)
    provider = master_key_provider_from_settings(settings)
    assert isinstance(provider, AwsKmsMasterKey)
    assert provider.key_id.startswith("aws-kms:kr_")
    stored = json.loads((tmp_path / "kms-keys.json").read_text())
    assert stored["versions"][0]["kms_key_id"] == kms_key_id


def test_changing_the_configured_kms_key_refuses_start_up_instead_of_forgetting_the_old(
    aws: Any, kms_key_id: str, tmp_path: Path
) -> None:
    AwsKmsMasterKey.open(tmp_path / "k.json", initial_kms_key_id=kms_key_id, region="us-east-1")
    other = aws.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(MasterKeyError, match="is not a version of the key map"):
        AwsKmsMasterKey.open(tmp_path / "k.json", initial_kms_key_id=other, region="us-east-1")


async def test_an_unreachable_kms_is_a_master_key_error(tmp_path: Path) -> None:
    provider = AwsKmsMasterKey.open(
        tmp_path / "k.json",
        initial_kms_key_id="alias/voxroute",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
    )
    with pytest.raises(VaultError, match="AWS KMS encrypt failed"):
        await Vault(provider).seal(Secret(fake_key()), make_ctx())
