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
    )


def test_every_exported_name_exists() -> None:
    for module in (voxroute.vault, voxroute.vault.master):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_importing_the_vault_does_not_import_the_database() -> None:
    import subprocess
    import sys

    probe = "import sys, voxroute.vault; print('voxroute.db' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
