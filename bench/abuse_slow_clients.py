"""Abuse scenario (issue 21, item 4): slowloris against `voxroute serve`.

Starts `voxroute serve --workers 1` in a fresh data directory on a socket this script binds
(port 0, handed over with `--fd`), then opens `--clients` connections on loopback that each
send half a request and stall (a third send nothing at all), and keeps reopening the ones
the server drops until `--seconds` have passed. Meanwhile it times `GET /health` every
200 ms. Prints a JSON report: the server's open files (peak, and after the slow clients
stop), `/health` answers and latency during and after, and how the server closed the slow
connections (408 after the header timeout, 503 beyond the connection cap).

    PYTHONPATH=src .venv/bin/python bench/abuse_slow_clients.py [--clients 1500] [--seconds 25]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from capacity import stop

HALF_REQUEST = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "


def open_files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def health(base: str) -> tuple[int, float]:
    """(status, seconds); status 0 when nothing answered."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(base + "/health", timeout=10) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError:
        status = 0
    return status, time.monotonic() - started


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "VOXROUTE_DATA_DIR": str(data_dir),
        "VOXROUTE_PUBLIC_URL": base,
        "VOXROUTE_DEMO_ORG": "false",
        "VOXROUTE_EMULATORS": "off",
        "VOXROUTE_LOG_LEVEL": "WARNING",
    }
    argv = [sys.executable, "-m", "voxroute.cli.main", "serve", "--workers", "1"]
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [*argv, "--fd", str(sock.fileno())],
        env=env,
        pass_fds=(sock.fileno(),),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sock.close()
    deadline = time.monotonic() + 120
    while health(base)[0] != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.3)
    return proc, base, port


async def slow_client(port: int, index: int, until: float, outcomes: Counter[str]) -> None:
    """Hold one stalled connection; when the server closes it, note how, and reopen."""
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            outcomes["connect failed"] += 1
            await asyncio.sleep(0.5)
            continue
        if index % 3:
            writer.write(HALF_REQUEST)
        try:
            answer = await asyncio.wait_for(reader.read(64), max(0.1, until - loop.time()))
            outcomes[answer[:12].decode(errors="replace").strip() or "closed"] += 1
        except TimeoutError:
            outcomes["still open at the end"] += 1
        except OSError:
            outcomes["reset"] += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def scenario(base: str, port: int, pid: int, clients: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    baseline_files = open_files(pid)
    until = loop.time() + seconds
    outcomes: Counter[str] = Counter()
    tasks = [
        asyncio.create_task(slow_client(port, index, until, outcomes)) for index in range(clients)
    ]
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    peak_files = 0
    while loop.time() < until:
        status, took = await asyncio.to_thread(health, base)
        statuses[status] += 1
        latencies.append(took)
        peak_files = max(peak_files, open_files(pid))
        await asyncio.sleep(0.2)
    await asyncio.gather(*tasks)
    await asyncio.sleep(1.0)
    after = [await asyncio.to_thread(health, base) for _ in range(5)]
    latencies.sort()
    return {
        "slow_clients": clients,
        "seconds": seconds,
        "server_open_files": {
            "baseline": baseline_files,
            "peak": peak_files,
            "after": open_files(pid),
        },
        "health_during": {
            "answers": {str(k): v for k, v in sorted(statuses.items())},
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "max_ms": round(latencies[-1] * 1000, 1),
        },
        "health_after": [status for status, _ in after],
        "slow_connections_closed_with": dict(outcomes.most_common()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1500, help="stalled connections held")
    parser.add_argument("--seconds", type=float, default=25.0)
    args = parser.parse_args()
    if not 1 <= args.clients <= 10_000:
        parser.error("--clients must be between 1 and 10000 (loopback only)")
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="voxroute-slow-") as tmp:
        proc, base, port = start_server(Path(tmp))
        try:
            report = asyncio.run(scenario(base, port, proc.pid, args.clients, args.seconds))
        finally:
            stop(proc)
    report["server_rlimit_nofile_before_serve"] = soft
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
