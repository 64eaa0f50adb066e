"""The key vault: `Secret` values, envelope encryption, master keys, redaction.

Re-wrapping stored rows after a rotation is the credential store's job
(`voxroute.credentials.rotation`); importing the vault never pulls in the database.

Public API (everything else is internal)::

    Secret, reveal_all                       a value that never prints itself
    SecretContext                            where a sealed value belongs (bound as AAD)
    Vault, SealedSecret                      seal / open / rewrap / inspect
    MasterKeyProvider, LocalKeyring,         master-key providers and the settings factory
    AwsKmsMasterKey, KeyState, KeyVersion,
    master_key_provider_from_settings
    rotate_master_key, RotationResult        add and promote a master-key version
    install_log_redaction, RedactingFilter,  redaction of logs and provider errors
    redact, sanitize, MASK
"""

from voxroute.vault.context import SecretContext
from voxroute.vault.master import (
    AwsKmsMasterKey,
    KeyState,
    KeyVersion,
    LocalKeyring,
    MasterKeyProvider,
    master_key_provider_from_settings,
)
from voxroute.vault.redaction import (
    MASK,
    RedactingFilter,
    install_log_redaction,
    redact,
    sanitize,
)
from voxroute.vault.rotation import RotationResult, rotate_master_key
from voxroute.vault.secret import Secret, reveal_all
from voxroute.vault.vault import SealedSecret, Vault

__all__ = [
    "MASK",
    "AwsKmsMasterKey",
    "KeyState",
    "KeyVersion",
    "LocalKeyring",
    "MasterKeyProvider",
    "RedactingFilter",
    "RotationResult",
    "SealedSecret",
    "Secret",
    "SecretContext",
    "Vault",
    "install_log_redaction",
    "master_key_provider_from_settings",
    "redact",
    "reveal_all",
    "rotate_master_key",
    "sanitize",
]
