"""Build the configured master-key provider from settings (once, at start-up)."""

from __future__ import annotations

from voxroute.settings import Settings
from voxroute.vault.master.aws_kms import AwsKmsMasterKey
from voxroute.vault.master.base import MasterKeyProvider
from voxroute.vault.master.local import LocalKeyring

KMS_KEY_MAP_NAME = "kms-keys.json"


def master_key_provider_from_settings(settings: Settings) -> MasterKeyProvider:
    """The provider `settings.master_key_provider` names; `MasterKeyError` refuses start-up.

    Blocking (reads or creates a file); call it during start-up, not on the call path.
    """
    if settings.master_key_provider == "aws_kms":
        return AwsKmsMasterKey.open(
            settings.data_dir / KMS_KEY_MAP_NAME,
            initial_kms_key_id=settings.aws_kms_key_id,
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url or None,
        )
    return LocalKeyring.open(settings.resolved_keyring_path)
