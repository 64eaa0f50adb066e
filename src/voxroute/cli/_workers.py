"""What `voxroute serve` prepares once, before its worker processes start.

Workers are separate processes, so anything made "once at start-up" inside
`voxroute.bootstrap.build_runtime` would otherwise be made once per worker: N emulator suites
on N sets of ports (each knowing only its own worker's keys), and N racing attempts to create
the demo organisation. The parent therefore runs `bootstrap.prepare_database` itself, starts
one `voxroute emulators` child with every key registered, and hands the workers plain
settings (`VOXROUTE_PROVIDER_BASE_URLS`, `VOXROUTE_TWILIO_API_BASE_URL`,
`VOXROUTE_EMULATORS=off`) through the environment. The managed keys go through a 0600 file
(`VOXROUTE_MANAGED_KEYS_FILE` names it), never the environment, and the file is removed when
the server stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from voxroute.settings import Settings

__all__ = ["EMULATOR_START_TIMEOUT_S", "shared_state"]

log = logging.getLogger("voxroute")
EMULATOR_START_TIMEOUT_S = 30.0


@contextmanager
def shared_state(settings: Settings) -> Iterator[None]:
    """Prepare the machine-wide state; on exit stop the emulator child (if any)."""
    from voxroute.bootstrap import managed_key_values, prepare_database
    from voxroute.providers.catalog import load_catalog

    catalog = load_catalog()
    managed = managed_key_values(settings, catalog)
    demo = asyncio.run(prepare_database(settings)) if settings.demo_org else None
    if not settings.use_emulators:
        yield
        return
    keys: dict[str, list[dict[str, str]]] = {}
    for provider, fields in managed.items():
        primary = catalog.get(provider).secret_fields[0]
        entry = {"api_key": fields[primary]}
        if "region" in fields:  # Azure keys are bound to their region at the emulator
            entry["region"] = fields["region"]
        keys.setdefault(provider, []).append(entry)
    if demo is not None:
        keys.setdefault("twilio", []).append(
            {"api_key": demo.auth_token, "account_sid": demo.account_sid}
        )
    with (
        _emulator_process(settings, keys) as base_urls,
        _private_json(settings.data_dir, "managed-keys-", managed) as keys_file,
    ):
        os.environ["VOXROUTE_PROVIDER_BASE_URLS"] = json.dumps(base_urls)
        os.environ["VOXROUTE_MANAGED_KEYS_FILE"] = str(keys_file)
        os.environ.pop("VOXROUTE_MANAGED_KEYS", None)  # the file holds them now
        os.environ["VOXROUTE_TWILIO_API_BASE_URL"] = (
            settings.twilio_api_base_url or base_urls["twilio"]
        )
        os.environ["VOXROUTE_EMULATORS"] = "off"
        yield


@contextmanager
def _private_json(directory: Path, prefix: str, value: Any) -> Iterator[Path]:
    """`value` as JSON in a new file only this user can read (mkstemp: 0600), removed on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".json", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(value, handle)
        yield path
    finally:
        path.unlink(missing_ok=True)


def _die_with_parent() -> None:
    """In the emulator child: receive SIGTERM if `voxroute serve` dies without cleaning up."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the parent's `finally` is the only cleanup


@contextmanager
def _emulator_process(settings: Settings, keys: dict[str, Any]) -> Iterator[dict[str, str]]:
    """`voxroute emulators` as a child; yields its provider → base URL map."""
    with (
        _private_json(settings.data_dir, "emulator-keys-", keys) as keys_file,
        _spawn_emulators(keys_file) as base_urls,
    ):
        yield base_urls


@contextmanager
def _spawn_emulators(keys_file: Path) -> Iterator[dict[str, str]]:
    proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [
            sys.executable,
            "-c",
            "from voxroute.cli import main; raise SystemExit(main())",
            "emulators",
            "--keys-file",
            str(keys_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
    )
    try:
        assert proc.stdout is not None
        line = _read_line(proc, EMULATOR_START_TIMEOUT_S)
        keys_file.unlink(missing_ok=True)  # read by the child: no reason to keep it
        base_urls: dict[str, str] = json.loads(line)
        log.info("emulators (pid %d) serve %d providers", proc.pid, len(base_urls))
        yield base_urls
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _read_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """The first stdout line of the child, or an error if it exits or stalls."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            raise RuntimeError("voxroute emulators did not start in time")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"voxroute emulators exited ({proc.wait()})")
    return line
