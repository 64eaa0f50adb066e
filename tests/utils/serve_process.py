"""`voxroute serve` as a child process on a port the kernel picks, for end-to-end tests.

The server binds port 0 and reports its URL (`--url-file`); tests never pick a free port and
bind it later, so parallel runs on a shared machine cannot collide.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from subprocess import Popen
from typing import Any


def serve_args(url_file: Path) -> list[str]:
    """The `voxroute serve` arguments that bind any free port and report it in `url_file`."""
    return ["--port", "0", "--url-file", str(url_file)]


def wait_for_url(url_file: Path, proc: Popen[Any], timeout_s: float = 90.0) -> str:
    """The URL the server reported, once its socket listens; fails if the server exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if url_file.exists():
            return url_file.read_text(encoding="utf-8").strip()
        if proc.poll() is not None:
            raise AssertionError(f"voxroute serve exited with {proc.returncode}")
        time.sleep(0.1)
    raise AssertionError("voxroute serve did not report its URL")


def wait_healthy(url: str, proc: Popen[Any], timeout_s: float = 90.0) -> None:
    """Poll `/health` until a worker answers (connections queue while workers start)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"voxroute serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"voxroute serve at {url} did not become healthy")


def start_and_wait(url_file: Path, proc: Popen[Any], timeout_s: float = 90.0) -> str:
    """The reported URL of a server that answers `/health`."""
    deadline = time.monotonic() + timeout_s
    url = wait_for_url(url_file, proc, timeout_s)
    wait_healthy(url, proc, max(1.0, deadline - time.monotonic()))
    return url
