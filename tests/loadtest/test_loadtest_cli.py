"""`voxroute loadtest` against a real `voxroute serve` on the embedded default.

A functional test: ten calls for fifteen seconds must all complete and the JSON report must
have its documented shape. Timings are benchmark figures (BENCHMARKS.md), never asserted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

VOXROUTE = [str(Path(sys.executable).with_name("voxroute"))]
TIMINGS = ("setup_ms", "reply_latency_ms", "frame_gap_ms")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not become healthy")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`voxroute serve` in a fresh directory: SQLite, local keyring, emulators, demo org."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [*VOXROUTE, "serve", "--port", str(port), "--workers", "1"],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "VOXROUTE_LOG_LEVEL": "WARNING"},
    )
    try:
        _wait_healthy(url, proc, timeout_s=60)
        yield url, tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_ten_calls_for_fifteen_seconds_complete_with_a_well_formed_report(
    server: tuple[str, Path],
) -> None:
    url, workdir = server
    report_path = workdir / "report.json"
    done = subprocess.run(
        [
            *VOXROUTE,
            "loadtest",
            "--url",
            url,
            "--calls",
            "10",
            "--duration",
            "15",
            "--json",
            str(report_path),
            "--quiet",
        ],
        cwd=workdir,  # the demo credentials are read from ./.voxroute/demo.json
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["calls_completed"] == 10
    assert report["calls_failed"] == 0
    assert report["calls_dropped"] == 0 and report["calls_refused"] == 0
    for name in TIMINGS:
        block = report[name]
        assert block["count"] > 0
        assert 0 <= block["p50"] <= block["p99"] <= block["max"]
    assert report["utterances"] >= 10
    assert len(report["per_call"]) == 10
    assert all(call["ok"] and call["frames_received"] > 0 for call in report["per_call"])
    assert "completed 10" in done.stdout
