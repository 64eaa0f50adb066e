"""`voxroute serve` hands managed keys to its workers through a 0600 file, never the
environment the workers inherit."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from voxroute.cli._workers import shared_state
from voxroute.errors import ConfigError
from voxroute.settings import load_settings

KEY = "sk-managed-never-in-env-0001"
PRIMED = (
    "VOXROUTE_PROVIDER_BASE_URLS",
    "VOXROUTE_MANAGED_KEYS_FILE",
    "VOXROUTE_TWILIO_API_BASE_URL",
    "VOXROUTE_EMULATORS",
)


def test_the_workers_environment_holds_no_managed_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PRIMED:  # shared_state sets them; restored after the test
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    settings = load_settings(
        data_dir=tmp_path, demo_org=False, managed_keys={"openai": {"api_key": KEY}}
    )
    with shared_state(settings):
        environment = json.dumps(dict(os.environ))
        assert KEY not in environment and "VOXROUTE_MANAGED_KEYS" not in os.environ
        keys_file = Path(os.environ["VOXROUTE_MANAGED_KEYS_FILE"])
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
        worker = load_settings()  # what a worker reads from the environment it inherits
        assert worker.managed_keys["openai"]["api_key"].get_secret_value() == KEY
        assert not worker.use_emulators
    assert not keys_file.exists()


def test_a_managed_keys_file_others_can_read_is_refused(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"openai": {"api_key": KEY}}))
    keys_file.chmod(0o644)
    with pytest.raises(ConfigError) as refused:
        load_settings(managed_keys_file=keys_file)
    assert KEY not in str(refused.value)
