"""Vault fixtures: a fresh local keyring, a moto-backed KMS, contexts and DB rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from voxroute.vault import AwsKmsMasterKey, LocalKeyring, Vault

DATA = Path(__file__).parent / "data"


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "keyring.json"


@pytest.fixture
def local_keyring(keyring_path: Path) -> LocalKeyring:
    return LocalKeyring.open(keyring_path)


@pytest.fixture
def vault(local_keyring: LocalKeyring) -> Vault:
    return Vault(local_keyring)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An offline AWS (moto) with two KMS keys; yields the KMS client."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


@pytest.fixture
def kms_key_id(aws: Any) -> str:
    return str(aws.create_key(Description="voxroute test v1")["KeyMetadata"]["KeyId"])


@pytest.fixture
def kms_provider(aws: Any, kms_key_id: str, tmp_path: Path) -> AwsKmsMasterKey:
    return AwsKmsMasterKey.open(
        tmp_path / "kms-keys.json", initial_kms_key_id=kms_key_id, region="us-east-1"
    )


@pytest.fixture(params=["local", "aws_kms"])
def any_vault(request: pytest.FixtureRequest) -> Vault:
    """The same test runs through every master-key provider voxroute ships."""
    name = "local_keyring" if request.param == "local" else "kms_provider"
    return Vault(request.getfixturevalue(name))
