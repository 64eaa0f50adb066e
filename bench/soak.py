#!/usr/bin/env python3
"""A soak under faults (issue 27 §3): calls arriving and ending continuously for a long time,
provider faults at set intervals, a Redis restart and a PostgreSQL restart in the middle.

Everything it restarts is its own: a PostgreSQL cluster (initdb into a temporary directory,
listening only on a unix socket there) and a redis-server on a unix socket, so the machine's
shared PostgreSQL and Redis are never touched. The emulators and `voxroute serve` run as
children; the load is the load generator's own call lines (`voxroute.loadtest.line`).

It reports (JSON with --out, a summary on stdout): calls placed / completed / failed by
reason (client side and the server's end reasons); usage expected vs written (every call
that connected must have its transport usage row and exactly one settlement: zero lost);
the ledger invariant (per org: sum of entries = balance, reserved = open holds) every sample;
worker RSS over time and its drift per 1,000 calls; stuck calls; asyncio task count over time;
p99 reply latency per window. Exit status 1 when money or usage was lost or calls got stuck.

    .venv/bin/python bench/soak.py --minutes 45 --concurrency 70 --out soak.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "tests" / "data" / "audio"
CLIPS = [AUDIO / f"utterance-0{i}.ulaw8k.wav" for i in (1, 2, 3, 4)]
METRICS_TOKEN = "soak-metrics-token-0123456789abcdef"  # noqa: S105 - a local scrape token
FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("deepgram", {"status": 429}),
    ("openai", {"status": 429}),
    ("openai", {"status": 500}),
    ("cartesia", {"status": 503}),
    ("openai", {"first_byte_delay_ms": 4000}),  # a stall
    ("deepgram", {"disconnect": True}),  # a stream that dies mid-way
    ("cartesia", {"disconnect": True}),
    ("openai", {"status": 401}),
]


# -- private infrastructure ------------------------------------------------------------------


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class PrivatePostgres:
    """A PostgreSQL cluster of this run only: unix socket in its own directory, no TCP."""

    def __init__(self, directory: Path) -> None:
        self.data = directory / "pgdata"
        self.sockets = directory / "pgsock"
        self.sockets.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
            shutil.chown(self.sockets, "postgres")
        initdb = shutil.which("initdb") or "initdb"
        subprocess.run(  # noqa: S603
            _as_postgres([initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust"]),
            check=True,
            capture_output=True,
        )

    def _ctl(self, *args: str) -> None:
        options = f"-c listen_addresses='' -k {self.sockets} -c max_connections=200 -c fsync=off"
        subprocess.run(  # noqa: S603
            _as_postgres([shutil.which("pg_ctl") or "pg_ctl", "-D", str(self.data), "-w"])
            + ["-o", options, "-l", str(self.data.parent / "postgres.log"), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@/postgres?host={self.sockets}"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.sockets}"


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.socket = directory / "redis.sock"
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)
        self.proc = subprocess.Popen(  # noqa: S603
            [shutil.which("redis-server") or "redis-server", "--port", "0"]
            + ["--unixsocket", str(self.socket), "--unixsocketperm", "700"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


# -- the server under soak ----------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    base_urls: dict[str, str]
    line: dict[str, str]  # number, account_sid, auth_token, token, org_id


def _prepare(directory: Path, pg: PrivatePostgres) -> tuple[Any, dict[str, Any]]:
    from voxroute.billing import topup
    from voxroute.bootstrap import prepare_database
    from voxroute.db.session import create_engine, create_session_factory
    from voxroute.demo import demo_managed_keys
    from voxroute.providers.catalog import load_catalog
    from voxroute.settings import Settings

    settings = Settings(
        data_dir=directory / "data", database_url=pg.url, emulators="off", demo_org=True
    )
    demo = asyncio.run(prepare_database(settings))
    assert demo is not None

    async def fund() -> None:
        engine = create_engine(pg.url)
        try:
            await topup(
                create_session_factory(engine),
                org_id=demo.org_id,
                amount_micros=100_000 * 1_000_000,
                idempotency_key="soak-credit",
            )
        finally:
            await engine.dispose()

    asyncio.run(fund())
    return demo, demo_managed_keys(load_catalog())


@contextlib.contextmanager
def serve(
    directory: Path, pg: PrivatePostgres, redis: PrivateRedis, workers: int, extra: list[str]
) -> Iterator[Server]:
    from voxroute.providers.catalog import load_catalog

    catalog = load_catalog()
    demo, managed = _prepare(directory, pg)
    keys: dict[str, list[dict[str, str]]] = {}
    for provider, fields in managed.items():
        entry = {"api_key": fields[catalog.get(provider).secret_fields[0]]}
        if "region" in fields:
            entry["region"] = fields["region"]
        keys.setdefault(provider, []).append(entry)
    keys["twilio"] = [{"api_key": demo.auth_token, "account_sid": demo.account_sid}]
    for name, value in (("emulator-keys.json", keys), ("managed.json", managed)):
        (directory / name).write_text(json.dumps(value))
        (directory / name).chmod(0o600)
    cli = [sys.executable, "-m", "voxroute.cli.main"]
    emulators = subprocess.Popen(  # noqa: S603
        [*cli, "emulators", "--keys-file", str(directory / "emulator-keys.json")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert emulators.stdout is not None
    base_urls = json.loads(emulators.stdout.readline())
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXROUTE_")}
    env.update(
        VOXROUTE_DATA_DIR=str(directory / "data"),
        VOXROUTE_DATABASE_URL=pg.url,
        VOXROUTE_REDIS_URL=redis.url,
        VOXROUTE_EMULATORS="off",
        VOXROUTE_DEMO_ORG="false",
        VOXROUTE_PROVIDER_BASE_URLS=json.dumps(base_urls),
        VOXROUTE_TWILIO_API_BASE_URL=base_urls["twilio"],
        VOXROUTE_MANAGED_KEYS_FILE=str(directory / "managed.json"),
        VOXROUTE_METRICS_TOKEN=METRICS_TOKEN,
        VOXROUTE_MAX_CALLS_PER_WORKER="1000",
    )
    env.update(item.split("=", 1) for item in extra)  # type: ignore[arg-type]
    url_file = directory / "server.url"
    with (directory / "server.log").open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603
            [*cli, "serve", "--port", "0", "--url-file", str(url_file)]
            + ["--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"voxroute serve exited with {proc.returncode}")
            if url_file.exists():
                url = url_file.read_text().strip()
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(url + "/health/ready", timeout=5).status_code == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError("voxroute serve did not become ready")
            time.sleep(0.3)
        line = {
            "number": demo.number,
            "account_sid": demo.account_sid,
            "auth_token": demo.auth_token,
            "org_id": demo.org_id,
        }
        yield Server(proc, url, base_urls, line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGTERM)  # no drain at the end of a soak: end the calls
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        emulators.terminate()
        emulators.wait(timeout=20)


# -- measurements -------------------------------------------------------------------------


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _workers(server_pid: int) -> list[int]:
    """The worker processes of `voxroute serve` (itself, with one worker)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == server_pid:
                children.append(int(stat.parent.name))
    return children or [server_pid]


async def _ledger(dsn: str) -> dict[str, Any]:
    """Per org: sum of entries = balance and reserved = open holds."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await conn.fetch(
            """
            SELECT a.org_id, a.balance_micros, a.reserved_micros,
              COALESCE((SELECT sum(amount_micros) FROM ledger_entries e
                        WHERE e.org_id = a.org_id), 0) AS entries,
              COALESCE((SELECT sum(amount_micros) FROM reservations r
                        WHERE r.org_id = a.org_id AND r.status = 'held'), 0) AS held
            FROM credit_accounts a
            """
        )
    finally:
        await conn.close()
    bad = [
        dict(r)
        for r in rows
        if r["balance_micros"] != r["entries"] or r["reserved_micros"] != r["held"]
    ]
    return {"ok": not bad, "orgs": len(rows), "violations": bad}


async def _stuck(dsn: str, older_than_s: float) -> int:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM calls WHERE status <> 'ended' AND started_at < "
                "now() - make_interval(secs => $1)",
                older_than_s,
            )
        )
    finally:
        await conn.close()


async def _usage(dsn: str) -> dict[str, Any]:
    """Every connected call: a transport usage row and exactly one closed settlement."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        row = await conn.fetchrow(
            """
            WITH connected AS (SELECT id FROM calls WHERE connected_at IS NOT NULL)
            SELECT
              (SELECT count(*) FROM connected) AS expected,
              (SELECT count(DISTINCT u.call_id) FROM usage_records u JOIN connected c
                 ON c.id = u.call_id WHERE u.unit = 'transport_ms') AS transport_rows,
              (SELECT count(*) FROM reservations r JOIN connected c ON c.id = r.call_id
                 WHERE r.status IN ('settled', 'expired')) AS settled,
              (SELECT count(*) FROM (SELECT call_id FROM ledger_entries
                 WHERE kind = 'call_charge' GROUP BY call_id HAVING count(*) > 1) d)
                 AS charged_twice,
              (SELECT count(*) FROM reservations WHERE status = 'held') AS open_holds
            """
        )
        reasons = await conn.fetch(
            "SELECT coalesce(end_reason, status) AS reason, count(*) AS n FROM calls "
            "GROUP BY 1 ORDER BY 2 DESC"
        )
    finally:
        await conn.close()
    usage = dict(row)
    usage["lost"] = usage["expected"] - min(usage["transport_rows"], usage["settled"])
    usage["server_end_reasons"] = {r["reason"]: r["n"] for r in reasons}
    return usage


async def _scrape(url: str) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (
            await http.get(url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        ).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("voxroute_asyncio_tasks", "voxroute_active_calls"):
            if line.startswith(name + " "):
                found[name] = float(line.split()[1])
    return found


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1)


# -- the run ------------------------------------------------------------------------------


@dataclass
class Soak:
    args: argparse.Namespace
    server: Server
    pg: PrivatePostgres
    redis: PrivateRedis
    t0: float = field(default_factory=time.monotonic)
    outcomes: Counter[str] = field(default_factory=Counter)
    replies: list[tuple[float, float]] = field(default_factory=list)  # (t, reply ms)
    samples: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    placed: int = 0
    completed: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    async def caller(self, clips: list[Any], clock: Any) -> None:
        from voxroute.loadtest.line import LineStats, run_line
        from voxroute.softphone import CallPlan
        from voxroute.softphone.result import CallResult

        line = self.server.line
        while not self.stop.is_set():
            plan = CallPlan(
                self.server.url,
                line["number"],
                f"+1555{random.randrange(10**7):07d}",  # noqa: S311 - not a secret
                line["account_sid"],
                line["auth_token"],
            )
            stats = LineStats(result=CallResult(), index=self.placed)
            stats.result.call_sid = plan.call_sid
            self.placed += 1
            length = random.uniform(self.args.call_s * 0.5, self.args.call_s * 1.5)  # noqa: S311
            await run_line(plan, clips, clock, stats, time.monotonic() + length)
            if stats.refused:
                self.outcomes[f"refused:{stats.refused}"] += 1
                await asyncio.sleep(1.0)
            elif stats.dropped:
                self.outcomes["dropped"] += 1
            elif stats.result.error:
                self.outcomes[f"error:{stats.result.error.split(':')[0]}"] += 1
            else:
                self.outcomes["completed"] += 1
                self.completed += 1
            now = self.elapsed()
            self.replies += [(now, ms) for ms in stats.result.reply_latency_ms]

    async def faults(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while not self.stop.is_set():
                await asyncio.sleep(self.args.fault_every_s)
                provider, fault = random.choice(FAULTS)  # noqa: S311
                base = self.server.base_urls.get(provider)
                if base is None:
                    continue
                with contextlib.suppress(httpx.HTTPError):
                    await http.post(base + "/_emulator/faults", json={"fault": fault, "count": 1})
                self.events.append({"t": self.elapsed(), "fault": provider, **fault})

    async def restarts(self) -> None:
        total = self.args.minutes * 60
        plan = sorted(
            [(self.args.redis_restart_at * total, "redis"), (self.args.pg_restart_at * total, "pg")]
        )
        for at, what in plan:
            await asyncio.sleep(max(0.0, at - (time.monotonic() - self.t0)))
            if self.stop.is_set():
                return
            target = self.redis if what == "redis" else self.pg
            started = time.monotonic()
            await asyncio.to_thread(target.restart)
            self.events.append(
                {
                    "t": self.elapsed(),
                    "restart": what,
                    "took_s": round(time.monotonic() - started, 2),
                }
            )

    async def sampler(self) -> None:
        while not self.stop.is_set():
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.args.sample_s)

    async def sample(self) -> None:
        sample: dict[str, Any] = {
            "t": self.elapsed(),
            "placed": self.placed,
            "completed": self.completed,
            "rss_mb": {pid: _rss_mb(pid) for pid in _workers(self.server.proc.pid)},
        }
        try:
            sample["ledger"] = await _ledger(self.pg.dsn)
            sample["stuck"] = await _stuck(self.pg.dsn, self.args.call_s * 1.5 + 120)
        except (OSError, asyncpg.PostgresError) as exc:
            sample["ledger"] = {"ok": None, "unavailable": type(exc).__name__}
        try:
            sample.update(await _scrape(self.server.url))
        except httpx.HTTPError as exc:
            sample["metrics_unavailable"] = type(exc).__name__
        self.samples.append(sample)
        print(json.dumps(sample, default=str), flush=True)

    async def run(self) -> dict[str, Any]:
        from voxroute.loadtest.clock import FrameClock
        from voxroute.loadtest.line import Clip

        clips = [Clip.load(path) for path in CLIPS]
        clock = FrameClock()
        clock_task = asyncio.create_task(clock.run(), name="soak-clock")
        helpers = [
            asyncio.create_task(self.faults(), name="soak-faults"),
            asyncio.create_task(self.restarts(), name="soak-restarts"),
            asyncio.create_task(self.sampler(), name="soak-sampler"),
        ]
        callers = []
        for index in range(self.args.concurrency):  # arrivals spread over one call length
            callers.append(asyncio.create_task(self.caller(clips, clock), name=f"soak-{index}"))
            await asyncio.sleep(self.args.call_s / self.args.concurrency)
        await asyncio.sleep(max(0.0, self.args.minutes * 60 - (time.monotonic() - self.t0)))
        self.stop.set()
        await asyncio.gather(*callers, *helpers)
        clock_task.cancel()
        await asyncio.gather(clock_task, return_exceptions=True)
        return await self.finish()

    async def finish(self) -> dict[str, Any]:
        # Calls still settling, and holds the sweeper closes: wait until nothing is held.
        deadline = time.monotonic() + 300
        usage = await _usage(self.pg.dsn)
        while usage["open_holds"] and time.monotonic() < deadline:
            await asyncio.sleep(2)
            usage = await _usage(self.pg.dsn)
        await self.sample()
        ledger = await _ledger(self.pg.dsn)
        stuck = await _stuck(self.pg.dsn, 0)
        window = self.args.window_s
        windows: dict[int, list[float]] = {}
        for t, ms in self.replies:
            windows.setdefault(int(t // window), []).append(ms)
        rss = [(s["completed"], sum(v for v in s["rss_mb"].values() if v)) for s in self.samples]
        drift = None
        if len(rss) >= 3 and rss[-1][0] > rss[1][0]:  # from the first loaded sample
            drift = round((rss[-1][1] - rss[1][1]) / (rss[-1][0] - rss[1][0]) * 1000, 1)
        tasks = [s.get("voxroute_asyncio_tasks") for s in self.samples]
        ledger_samples = [s["ledger"]["ok"] for s in self.samples]
        return {
            "minutes": self.args.minutes,
            "concurrency": self.args.concurrency,
            "calls": {
                "placed": self.placed,
                "completed": self.completed,
                "outcomes": dict(self.outcomes),
            },
            "usage": usage,
            "ledger_final": ledger,
            "ledger_checks": {
                "ok": ledger_samples.count(True),
                "violated": ledger_samples.count(False),
                "unavailable": ledger_samples.count(None),
            },
            "stuck_calls": stuck,
            "rss_mb": [{"completed": c, "mb": round(mb, 1)} for c, mb in rss],
            "rss_drift_mb_per_1000_calls": drift,
            "asyncio_tasks": tasks,
            "reply_p99_ms_per_window": {
                f"{k * window}-{(k + 1) * window}s": _p99(v) for k, v in sorted(windows.items())
            },
            "events": self.events,
            "samples": self.samples,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=45)
    parser.add_argument("--concurrency", type=int, default=70, help="calls up at once (~70 %%)")
    parser.add_argument("--call-s", type=float, default=30, help="mean call length")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--fault-every-s", type=float, default=20)
    parser.add_argument("--sample-s", type=float, default=60)
    parser.add_argument("--window-s", type=float, default=300, help="reply p99 window")
    parser.add_argument("--redis-restart-at", type=float, default=0.4, help="share of the run")
    parser.add_argument("--pg-restart-at", type=float, default=0.6, help="share of the run")
    parser.add_argument("--server-env", action="append", default=[], help="VOXROUTE_X=Y")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voxroute-soak-") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o755)  # postgres reaches its socket directory inside
        pg = PrivatePostgres(directory / "pg")
        redis = PrivateRedis(directory)
        pg.start()
        redis.start()
        try:
            with serve(directory, pg, redis, args.workers, args.server_env) as server:
                report = asyncio.run(Soak(args, server, pg, redis).run())
        finally:
            redis.stop()
            pg.stop()
    text = json.dumps(report, indent=2, default=str)
    if args.out is not None:
        args.out.write_text(text)
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary, indent=2, default=str))
    healthy = (
        report["usage"]["lost"] == 0
        and report["usage"]["charged_twice"] == 0
        and report["ledger_final"]["ok"]
        and report["ledger_checks"]["violated"] == 0
        and report["stuck_calls"] == 0
    )
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
