"""The vault's public API is what `voxroute.vault.__all__` lists, and nothing leaks from it."""

from __future__ import annotations

import voxroute.vault
import voxroute.vault.master


def test_the_public_api_is_pinned() -> None:
    assert sorted(voxroute.vault.__all__) == sorted(
        [
            "MASK",
            "AwsKmsMasterKey",
            "KeyState",
            "KeyVersion",
            "LocalKeyring",
            "MasterKeyProvider",
            "RedactingFilter",
            "RewrapReport",
            "RotationResult",
            "SealedSecret",
            "Secret",
            "SecretContext",
            "Vault",
            "install_log_redaction",
            "master_key_provider_from_settings",
            "redact",
            "retire_version",
            "reveal_all",
            "rewrap_all",
            "rotate_master_key",
            "sanitize",
        ]
    )


def test_every_exported_name_exists() -> None:
    for module in (voxroute.vault, voxroute.vault.master):
        for name in module.__all__:
            assert hasattr(module, name), name
