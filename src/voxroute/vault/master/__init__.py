"""Master-key providers: one interface, a local keyring file and AWS KMS behind it."""

from voxroute.vault.master.aws_kms import AwsKmsMasterKey
from voxroute.vault.master.base import DEK_LEN, KeyState, KeyVersion, MasterKeyProvider, WrapContext
from voxroute.vault.master.factory import master_key_provider_from_settings
from voxroute.vault.master.local import LocalKeyring

__all__ = [
    "DEK_LEN",
    "AwsKmsMasterKey",
    "KeyState",
    "KeyVersion",
    "LocalKeyring",
    "MasterKeyProvider",
    "WrapContext",
    "master_key_provider_from_settings",
]
