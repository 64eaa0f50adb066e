"""Abuse scenario (issue 21, item 2): one caller floods its media stream with maximum-size
frames as fast as the socket takes them while another caller places a normal call.

Starts `voxroute serve --workers 1` in a fresh data directory on a socket this script binds
(port 0, handed over with `--fd`), measures the worker's RSS before (after one warm-up
call), every 100 ms during, and after the flood, and prints a JSON report: peak and
post-call RSS, how the flooded call ended, what the well-behaved call heard, and the
inbound-drop counters from `/metrics`.

    PYTHONPATH=src .venv/bin/python bench/abuse_media_flood.py [--seconds 15] [--never-close]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from capacity import stop
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from voxroute.softphone import place_call
from voxroute.softphone.client import CallPlan, send_voice_webhook
from voxroute.softphone.result import CallResult
from voxroute.telephony.twilio.protocol import MAX_MEDIA_PAYLOAD_BYTES

ROOT = Path(__file__).resolve().parents[1]
HELLO = ROOT / "tests" / "data" / "audio" / "utterance-02.ulaw8k.wav"
# The server's /metrics scrape token for this run (never a real credential).
METRICS_TOKEN = secrets.token_urlsafe(24)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def http_get(url: str, token: str | None = None) -> bytes:
    request = urllib.request.Request(url)  # noqa: S310 - loopback URL built here
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return bytes(response.read())


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            http_get(base + "/health")
            return
        time.sleep(0.3)
    raise RuntimeError("server did not become healthy")


def start_server(data_dir: Path, *, never_close: bool) -> tuple[subprocess.Popen[bytes], str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {
        **os.environ,
        "VOXROUTE_DATA_DIR": str(data_dir),
        "VOXROUTE_PUBLIC_URL": base,
        "VOXROUTE_LOG_LEVEL": "WARNING",
        "VOXROUTE_METRICS_TOKEN": METRICS_TOKEN,
    }
    if never_close:  # the guard still drops, but never closes the stream
        env["VOXROUTE_INBOUND_FLOOD_DROPPED_S"] = "1e12"
    argv = [sys.executable, "-m", "voxroute.cli.main", "serve", "--workers", "1"]
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [*argv, "--fd", str(sock.fileno())], env=env, pass_fds=(sock.fileno(),)
    )
    sock.close()  # the server holds its own copy
    return proc, base


def flood_message(stream_sid: str, sequence: int, payload: str) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(sequence),
            "media": {
                "track": "inbound",
                "chunk": str(sequence),
                "timestamp": "0",
                "payload": payload,
            },
            "streamSid": stream_sid,
        },
        separators=(",", ":"),
    )


async def flood_stream(
    url: str, call_sid: str, account_sid: str, params: dict[str, str], seconds: float
) -> dict[str, Any]:
    """Open a media stream and send maximum-size frames as fast as the socket takes them."""
    stream_sid = "MZ" + secrets.token_hex(16)
    payload = base64.b64encode(os.urandom(MAX_MEDIA_PAYLOAD_BYTES)).decode()
    sent, started = 0, time.monotonic()
    close_code: int | None = None
    async with connect(url, max_size=2**20) as ws:
        start = {
            "streamSid": stream_sid,
            "accountSid": account_sid,
            "callSid": call_sid,
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
        await ws.send(json.dumps({"event": "start", "streamSid": stream_sid, "start": start}))

        async def drain() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass

        reader = asyncio.create_task(drain())
        try:
            while time.monotonic() - started < seconds:
                await ws.send(flood_message(stream_sid, sent, payload))
                sent += 1
        except ConnectionClosed:
            pass
        finally:
            close_code = ws.close_code
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    elapsed = time.monotonic() - started
    return {
        "frames_sent": sent,
        "audio_sent_s": sent * MAX_MEDIA_PAYLOAD_BYTES / 8000,
        "elapsed_s": round(elapsed, 2),
        "times_real_time": round(sent * MAX_MEDIA_PAYLOAD_BYTES / 8000 / max(elapsed, 1e-6)),
        "close_code": close_code,
        "closed_by_server": elapsed < seconds,
    }


async def flood(plan: CallPlan, seconds: float) -> dict[str, Any]:
    """Answer the call's webhook, then flood its media stream."""
    result = CallResult()
    answer = await send_voice_webhook(plan, result)
    if answer is None:
        raise RuntimeError(result.error)
    url, params = answer
    return await flood_stream(url, plan.call_sid, plan.account_sid, params, seconds)


async def sample_rss(pid: int, stop: asyncio.Event, samples: list[float]) -> None:
    while not stop.is_set():
        samples.append(rss_mb(pid))
        await asyncio.sleep(0.1)


def inbound_metrics(base: str) -> dict[str, float]:
    text = http_get(base + "/metrics", METRICS_TOKEN).decode()
    found = {}
    for line in text.splitlines():
        if line.startswith(("voxroute_inbound_", "voxroute_calls_ended_total{")):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


async def scenario(base: str, pid: int, demo: dict[str, str], seconds: float) -> dict[str, Any]:
    def plan() -> dict[str, Any]:
        return {"pause_s": 0.3, "quiet_s": 0.8, "initial_wait_s": 0.5}

    args = (base, demo["number"], demo["caller"], demo["account_sid"], demo["auth_token"])
    warm = await place_call(*args, [HELLO], **plan())
    await asyncio.sleep(2.0)
    baseline = rss_mb(pid)
    samples: list[float] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, stop, samples))
    flood_plan = CallPlan(
        base, demo["number"], demo["caller"], demo["account_sid"], demo["auth_token"]
    )
    flooded, normal = await asyncio.gather(
        flood(flood_plan, seconds), place_call(*args, [HELLO, HELLO], **plan())
    )
    after_flood = rss_mb(pid)
    await asyncio.sleep(5.0)
    stop.set()
    await sampler
    post_call = rss_mb(pid)
    calls = json.loads(http_get(base + "/api/v1/calls", demo["token"]))
    items = calls["items"] if isinstance(calls, dict) else calls
    flood_row = next((c for c in items if c.get("provider_call_id") == flood_plan.call_sid), {})
    return {
        "warm_up_call_ok": warm.ok,
        "rss_baseline_mb": round(baseline, 1),
        "rss_peak_mb": round(max(samples or [0.0]), 1),
        "rss_when_flood_ended_mb": round(after_flood, 1),
        "rss_post_call_mb": round(post_call, 1),
        "flood": flooded,
        "flood_call_end_reason": flood_row.get("end_reason"),
        "flood_call_inbound": {
            k: v
            for k, v in (flood_row.get("latency") or {}).items()
            if "inbound" in k or "media" in k
        },
        "normal_call": {
            "ok": normal.ok,
            "reply_latency_ms": normal.reply_latency_ms,
            "audio_received_s": normal.audio_received_s,
            "error": normal.error,
        },
        "metrics": inbound_metrics(base),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="longest flood")
    parser.add_argument(
        "--never-close",
        action="store_true",
        help="configure the server never to close a flooding stream (drops only)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voxroute-flood-") as tmp:
        proc, base = start_server(Path(tmp), never_close=args.never_close)
        try:
            wait_healthy(base, proc)
            demo = json.loads((Path(tmp) / "demo.json").read_text())
            report = asyncio.run(scenario(base, proc.pid, demo, args.seconds))
        finally:
            stop(proc)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
