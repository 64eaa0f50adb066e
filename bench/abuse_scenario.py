"""Abuse scenario (issue 21): one tenant attacks a worker while another places normal calls.

Starts `voxroute serve --workers 1` on the embedded default in a fresh data directory (port 0,
handed over with `--fd`). The demo organization is the victim; a second organization, the
flooder (call cap 1, with credit), is created with the operator CLI. Then, twice with the
same victim load:

1. quiet: the victim places `--calls` calls (the load generator: real-time speech, replies
   timed) and nothing else happens;
2. abuse: the same victim load while the flooder, at once,
   - floods a web call's media stream with maximum-size frames as fast as the socket takes,
   - asks for 20 more web calls in parallel (past its cap of 1),
   - reads `GET /calls/{id}` from 50 concurrent loops for the whole run,
   - holds `--slow-clients` half-sent HTTP requests open (slowloris).

It prints a JSON report: the victim's reply latency (p50/p90) and completion in each run,
what the flooder got (status codes, how the flood ended), and the worker's RSS: baseline
after a warm-up call, peak, and after the abuse.

    PYTHONPATH=src .venv/bin/python bench/abuse_scenario.py [--calls 10] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from abuse_media_flood import HELLO, flood_stream, rss_mb, sample_rss, start_server, wait_healthy
from abuse_slow_clients import slow_client
from capacity import stop

from voxroute.loadtest.config import LoadConfig
from voxroute.loadtest.report import build_report
from voxroute.loadtest.runner import run_load
from voxroute.softphone import place_call

ASSISTANT = {
    "name": "Flooder desk",
    "stt_config": {"provider": "deepgram"},
    "llm_config": {"provider": "openai"},
    "tts_config": {"provider": "cartesia"},
}
API_READERS = 50
EXTRA_WEB_CALLS = 20


def cli(data_dir: Path, *args: str) -> dict[str, Any]:
    """Run an operator command against the server's database; its JSON output."""
    env = {**os.environ, "VOXROUTE_DATA_DIR": str(data_dir), "VOXROUTE_LOG_LEVEL": "WARNING"}
    out = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "voxroute.cli.main", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def flooder_org(data_dir: Path) -> str:
    created = cli(data_dir, "admin", "create-org", "Flooder")
    org_id = str(created["org_id"])
    cli(data_dir, "admin", "topup", org_id, "50000000")
    cli(data_dir, "admin", "set-call-limit", org_id, "1")
    return str(created["token"])


async def flood_web_call(
    api: httpx.AsyncClient, assistant_id: str, seconds: float
) -> dict[str, Any]:
    """Start a web call and flood its media stream as fast as the socket takes frames."""
    answer = await api.post("/calls/web", json={"assistant_id": assistant_id})
    answer.raise_for_status()
    call = answer.json()
    params = {"call_token": call["call_token"]}
    flooded = await flood_stream(
        call["stream_url"], call["call_sid"], call["account_sid"], params, seconds
    )
    return {"call_id": call["call_id"], **flooded}


async def read_loop(api: httpx.AsyncClient, path: str, until: float, codes: Counter[int]) -> None:
    while time.monotonic() < until:
        try:
            codes[(await api.get(path)).status_code] += 1
        except httpx.HTTPError:
            codes[0] += 1


async def victim_load(
    base: str, demo: dict[str, str], calls: int, seconds: float
) -> dict[str, Any]:
    config = LoadConfig(
        url=base,
        number=demo["number"],
        account_sid=demo["account_sid"],
        auth_token=demo["auth_token"],
        clips=[HELLO],
        calls=calls,
        duration_s=seconds,
    )
    report = build_report(await run_load(config, progress=None))
    return {
        "calls_completed": report["calls_completed"],
        "calls_failed": report["calls_failed"],
        "reply_latency_ms": report["reply_latency_ms"],
        "load_lag_ms": report["load_lag_ms"],
    }


async def abuse(
    base: str, port: int, token: str, seconds: float, slow_clients: int
) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=base + "/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        limits=httpx.Limits(max_connections=API_READERS + EXTRA_WEB_CALLS + 5),
    ) as api:
        assistant = (await api.post("/assistants", json=ASSISTANT)).json()["id"]
        until = time.monotonic() + seconds
        flood_task = asyncio.create_task(flood_web_call(api, assistant, seconds))
        await asyncio.sleep(0.5)  # the flood call holds the flooder's one slot
        listed = (await api.get("/calls")).json()
        flood_call = (listed["items"] if isinstance(listed, dict) else listed)[0]["id"]
        extra = await asyncio.gather(
            *(
                api.post("/calls/web", json={"assistant_id": assistant})
                for _ in range(EXTRA_WEB_CALLS)
            )
        )
        reads: Counter[int] = Counter()
        slow: Counter[str] = Counter()
        loop_until = asyncio.get_running_loop().time() + seconds
        await asyncio.gather(
            *(read_loop(api, f"/calls/{flood_call}", until, reads) for _ in range(API_READERS)),
            *(slow_client(port, i, loop_until, slow) for i in range(slow_clients)),
        )
        flooded = await flood_task
        row = (await api.get(f"/calls/{flooded['call_id']}")).json()
    return {
        "flood": {**flooded, "end_reason": row.get("end_reason")},
        "extra_web_calls": dict(Counter(r.status_code for r in extra)),
        "api_reads": dict(reads),
        "slow_clients": dict(slow),
    }


def _delta(under: dict[str, Any], quiet: dict[str, Any], stat: str) -> float | None:
    """How much later the victim heard its replies under abuse (None: too few replies)."""
    a, b = under["reply_latency_ms"][stat], quiet["reply_latency_ms"][stat]
    return None if a is None or b is None else round(a - b, 1)


async def scenario(
    base: str, port: int, pid: int, demo: dict[str, str], token: str, args: argparse.Namespace
) -> dict[str, Any]:
    warm = await place_call(
        base, demo["number"], demo["caller"], demo["account_sid"], demo["auth_token"], [HELLO]
    )
    await asyncio.sleep(2.0)
    baseline = rss_mb(pid)
    quiet = await victim_load(base, demo, args.calls, args.seconds)
    samples: list[float] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, stop, samples))
    # The attacker runs in a process of its own: in this one, its traffic would make the
    # load generator's own loop late and so inflate the victim's measured reply latency.
    attacker = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--attack",
        json.dumps([base, port, token, args.seconds + 5, args.slow_clients]),
        stdout=asyncio.subprocess.PIPE,
    )
    victim, (out, _) = await asyncio.gather(
        victim_load(base, demo, args.calls, args.seconds), attacker.communicate()
    )
    attack = json.loads(out)
    await asyncio.sleep(10.0)  # slow clients time out, the flooded call is gone
    stop.set()
    await sampler
    after = rss_mb(pid)
    return {
        "warm_up_call_ok": warm.ok,
        "victim_quiet": quiet,
        "victim_under_abuse": victim,
        "reply_p50_delta_ms": _delta(victim, quiet, "p50"),
        "reply_p90_delta_ms": _delta(victim, quiet, "p90"),
        "flooder": attack,
        "rss_baseline_mb": round(baseline, 1),
        "rss_peak_mb": round(max(samples or [0.0]), 1),
        "rss_after_mb": round(after, 1),
        "rss_after_vs_baseline_pct": round(100 * (after - baseline) / baseline, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10, help="victim calls per run")
    parser.add_argument("--seconds", type=float, default=20.0, help="each run's duration")
    parser.add_argument("--slow-clients", type=int, default=200)
    parser.add_argument("--attack", help=argparse.SUPPRESS)  # the attacker's own process
    args = parser.parse_args()
    if args.attack:
        print(json.dumps(asyncio.run(abuse(*json.loads(args.attack)))))
        return 0
    with tempfile.TemporaryDirectory(prefix="voxroute-abuse-") as tmp:
        data_dir = Path(tmp)
        proc, base = start_server(data_dir, never_close=False)
        port = int(base.rsplit(":", 1)[1])
        try:
            wait_healthy(base, proc)
            demo = json.loads((data_dir / "demo.json").read_text())
            token = flooder_org(data_dir)
            report = asyncio.run(scenario(base, port, proc.pid, demo, token, args))
        finally:
            stop(proc)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
