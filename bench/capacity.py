"""Side-by-side capacity: voxroute vs the pipecat-example reference bot, per core.

One invocation runs the same load ladder against (a) `voxroute serve --workers 1` and
(b) `bench/baseline_bot.py`, each pinned to one core (`taskset`), with the provider
emulators and `voxroute loadtest` pinned to the other core. For each server it reports, per
step, the server's measured CPU and RSS, the load side's CPU, and the loadtest figures; then
the largest number of concurrent calls that passes:

* zero failed calls (refused or dropped included);
* outbound frame jitter p99 ≤ 10 ms — the issue's "frame gap p99 ≤ 30 ms" written for
  Twilio's 20 ms frames; both servers send pipecat's default 40 ms frames, so the bound is
  applied to the lateness of a frame against the length of the one before it;
* reply latency p99 ≤ (the same server's reply latency p99 with one call) + 50 ms — the
  one-call figure is the emulators' latency plus the turn-taking delays of the pipeline, so
  the margin is what load adds (the one-call step runs at least 40 s for several replies).

Calls arrive `--ramp-per-call` apart (default 0.1 s: 10 calls/s, far steeper than the
~0.5 calls/s of 100 concurrent 3-minute calls), then all of them stay up together for
`--duration` seconds; the CPU is measured in that window, and a step whose calls were never
all up at once fails (so the window never mixes in calls already hanging up). A step that
fails does not end the ladder; two consecutive failures do, and the capacity is the largest
step that passed.

Usage:
    .venv/bin/python bench/capacity.py --out bench-out --plot BENCHMARKS-capacity.png

Every load is bounded: the ladder and the per-step duration are fixed; each step is killed
after ramp + duration + 60 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VOXROUTE = str(BIN / "voxroute")
PROVIDERS = ("deepgram", "openai", "cartesia")
JITTER_P99_MAX_MS = 10.0
REPLY_MARGIN_MS = 50.0
LADDER_CREDIT_MICROS = 10_000_000_000  # $10,000
LADDER_CALL_LIMIT = 1000
DEFAULT_LADDER = "1,5,10,15,20,30,40,60,80,100,120"
TICK = os.sysconf("SC_CLK_TCK")
NO_GOODBYE_SCRIPT = [
    "Hello, I would like to book a table for two people tonight.",
    "What time do you open on Saturday?",
    "Can you transfer me to a human agent, please?",
]


def wait_for_url(url_file: Path, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> str:
    """The URL a server reported once it bound port 0 (never a port picked in advance)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if url_file.exists():
            return url_file.read_text().strip()
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError("server did not report its URL")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (`serve --workers N` forks N worker processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process tree (every thread of every process), in seconds."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def rss_mb(pid: int) -> float:
    total = 0
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in lines if line.startswith("VmRSS:"))
    return total / 1024


NICE = 0  # set from --nice in main()


def pinned(cpu: int, argv: list[str]) -> list[str]:
    """Pin to one core and, when allowed, run ahead of the machine's other work."""
    if shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu), *argv]
    if NICE and (NICE > 0 or os.geteuid() == 0):
        argv = ["nice", "-n", str(NICE), *argv]
    return argv


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("server did not become healthy")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Step:
    calls: int
    report: dict[str, Any]
    server_cpu_pct: float
    load_cpu_pct: float
    server_rss_mb: float
    passed: bool = False
    why: list[str] = field(default_factory=list)
    server_latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        r = self.report
        return {
            "calls": self.calls,
            "passed": self.passed,
            "why": self.why,
            "server_cpu_pct": round(self.server_cpu_pct, 1),
            "load_cpu_pct": round(self.load_cpu_pct, 1),
            "server_rss_mb": round(self.server_rss_mb, 1),
            "calls_completed": r["calls_completed"],
            "calls_failed": r["calls_failed"],
            "concurrency": r["concurrency"],  # since 2026-12-04: all calls up together
            "setup_ms": r["setup_ms"],
            "setup_phases_ms": r.get("setup_phases_ms", {}),  # absent before 2026-12-03
            "reply_latency_ms": r["reply_latency_ms"],
            "frame_gap_ms": r["frame_gap_ms"],
            "frame_jitter_ms": r["frame_jitter_ms"],
            "underruns": r["underruns"],
            "load_lag_ms": r["load_lag_ms"],
            "server_latency_ms": self.server_latency_ms,
        }


def _phases(report: dict[str, Any]) -> str:
    phases = report.get("setup_phases_ms")
    if not phases:
        return ""
    return f" (webhook {phases['webhook']['p99']}, stream open {phases['stream_open']['p99']})"


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.emulators: subprocess.Popen[str] | None = None
        self.database_url = ""  # set by `postgres_database` with --postgres
        self.base_urls: dict[str, str] = {}
        self.keys = {p: f"{p}-bench-{os.getpid()}-0000000000000001" for p in PROVIDERS}

    # -- emulators, on the load core -------------------------------------------------------
    def start_emulators(self) -> None:
        keys_file = self.work / "emulator-keys.json"
        keys_file.write_text(json.dumps({p: [k] for p, k in self.keys.items()}))
        self.emulators = subprocess.Popen(
            pinned(self.args.load_cpu, [VOXROUTE, "emulators", "--keys-file", str(keys_file)]),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.emulators.stdout is not None
        self.base_urls = json.loads(self.emulators.stdout.readline())
        # The default STT script ends with "Goodbye", on which the assistant hangs up; a
        # capacity step needs every call to last the whole step.
        request = urllib.request.Request(
            self.base_urls["deepgram"] + "/_emulator/script",
            data=json.dumps({"phrases": NO_GOODBYE_SCRIPT}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    # -- servers, on the server core -------------------------------------------------------
    def voxroute_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOXROUTE_")}
        env.update(
            VOXROUTE_DATA_DIR=str(self.work / "voxroute"),
            VOXROUTE_LOG_LEVEL="WARNING",
            VOXROUTE_EMULATORS="off",
            VOXROUTE_PROVIDER_BASE_URLS=json.dumps(self.base_urls),
            VOXROUTE_TWILIO_API_BASE_URL=self.base_urls["twilio"],
            VOXROUTE_MANAGED_KEYS=json.dumps({p: {"api_key": k} for p, k in self.keys.items()}),
            VOXROUTE_MAX_CALLS_PER_WORKER=str(self.args.max_calls_per_worker),
            # The ladder looks for where the bounds break; the busy-loop admission guard
            # would refuse calls first (test it with --server-env …_BUSY_LIMIT_PCT=70).
            VOXROUTE_LOOP_BUSY_LIMIT_PCT="100",
        )
        if self.database_url:
            env["VOXROUTE_DATABASE_URL"] = self.database_url
        for setting in self.args.server_env:
            name, equals, value = setting.partition("=")
            if not name.startswith("VOXROUTE_") or not equals:
                raise SystemExit(f"--server-env wants VOXROUTE_NAME=VALUE, not {setting!r}")
            env[name] = value
        return env

    def start_voxroute(self, url_file: Path) -> subprocess.Popen[bytes]:
        log = (self.work / "voxroute.log").open("ab")
        return subprocess.Popen(
            pinned(
                self.args.server_cpu,
                [
                    VOXROUTE,
                    "serve",
                    "--workers",
                    str(self.args.server_workers),
                    "--port",
                    "0",
                    "--url-file",
                    str(url_file),
                ],
            ),
            env=self.voxroute_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def prepare_demo_org(self) -> None:
        """A load test is not a billing or tenancy test: give the demo org credit for the
        whole ladder (its $5 would run out mid-ladder and end calls politely) and a call
        limit above the ladder's top (its default of 50 would answer "busy")."""
        org_id = json.loads((self.work / "voxroute" / "demo.json").read_text())["org_id"]
        for command in (
            ["topup", org_id, str(LADDER_CREDIT_MICROS)],
            ["set-call-limit", org_id, str(LADDER_CALL_LIMIT)],
        ):
            subprocess.run(
                [VOXROUTE, "admin", *command],
                env=self.voxroute_env(),
                check=True,
                stdout=subprocess.DEVNULL,
            )

    def start_baseline(self, url_file: Path) -> subprocess.Popen[bytes]:
        config = self.work / "baseline-providers.json"
        config.write_text(
            json.dumps(
                {p: {"base_url": self.base_urls[p], "api_key": k} for p, k in self.keys.items()}
            )
        )
        log = (self.work / "baseline.log").open("ab")
        script = str(ROOT / "bench" / "baseline_bot.py")
        return subprocess.Popen(
            pinned(
                self.args.server_cpu,
                [
                    sys.executable,
                    script,
                    "--port",
                    "0",
                    "--url-file",
                    str(url_file),
                    "--config",
                    str(config),
                ],
            ),
            env={k: v for k, v in os.environ.items() if not k.startswith("VOXROUTE_")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    # -- one load step ---------------------------------------------------------------------
    def load(self, name: str, url: str, pid: int, calls: int, duration: float) -> Step:
        out = self.work / f"{name}-{calls:04d}.json"
        ramp = max(1.0, calls * self.args.ramp_per_call)
        argv = [
            VOXROUTE,
            "loadtest",
            "--url",
            url,
            "--calls",
            str(calls),
            "--duration",
            str(duration),
            "--ramp",
            str(ramp),
            "--json",
            str(out),
            "--quiet",
        ]
        env = self.voxroute_env() if name == "voxroute" else dict(os.environ)
        if name != "voxroute":  # the reference bot does not check the signature
            argv += [
                "--number",
                "+15550100000",
                "--account-sid",
                "AC" + "0" * 32,
                "--auth-token",
                "unused",
            ]
        since = datetime.now(UTC).replace(tzinfo=None)
        proc = subprocess.Popen(
            pinned(self.args.load_cpu, argv),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        # Measure the steady part: every call started, none yet hung up (they all hang up
        # at ramp + duration).
        time.sleep(2.0 + ramp + 1.0)
        pids = {"server": pid, "load": proc.pid, "emulators": self.emulators.pid}  # type: ignore[union-attr]
        t0 = time.monotonic()
        before = {k: cpu_seconds(p) for k, p in pids.items()}
        time.sleep(max(1.0, duration - 3.0))
        wall = time.monotonic() - t0
        after = {k: cpu_seconds(p) for k, p in pids.items()}
        rss = rss_mb(pid)
        try:
            stdout, _ = proc.communicate(timeout=ramp + duration + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
        if not out.exists():
            raise RuntimeError(f"loadtest wrote no report: {stdout.decode()[-2000:]}")
        report = json.loads(out.read_text())
        pct = {k: (after[k] - before[k]) / wall * 100 for k in pids}
        step = Step(calls, report, pct["server"], pct["load"] + pct["emulators"], rss)
        if name == "voxroute":
            step.server_latency_ms = self.server_latency(since)
        print(
            f"  {name:9s} N={calls:4d}  server CPU {step.server_cpu_pct:5.1f}%  "
            f"load CPU {step.load_cpu_pct:5.1f}%  RSS {rss:6.1f} MB  "
            f"failed {report['calls_failed']}  "
            f"all {report['concurrency']['peak']} up {report['concurrency']['all_live_s']:.0f} s  "
            f"jitter p99 {report['frame_jitter_ms']['p99']}  "
            f"gap p99 {report['frame_gap_ms']['p99']}  "
            f"reply p50/p99 {report['reply_latency_ms']['p50']}/"
            f"{report['reply_latency_ms']['p99']}  "
            f"setup p99 {report['setup_ms']['p99']}{_phases(report)}",
            flush=True,
        )
        if step.server_latency_ms:
            parts = ", ".join(
                f"{key} {q['p50']}/{q['p99']}" for key, q in step.server_latency_ms.items()
            )
            print(f"    server-recorded p50/p99 ms: {parts}", flush=True)
        return step

    def server_latency(self, since: datetime) -> dict[str, dict[str, float]]:
        """p50/p99 of what the server recorded in `calls.latency` for the step's calls: each
        set-up phase (ms from the stream's token accepted to queued, loaded, built,
        started), the turn (caller stopped → bot started speaking) and each provider's
        TTFB, which tells the emulators' share of a reply from the server's."""
        values: dict[str, list[float]] = {}
        for raw in self.latency_rows(since):
            latency = json.loads(raw or "{}")
            for phase, ms in (latency.get("setup_ms") or {}).items():
                values.setdefault(f"setup_{phase}", []).append(float(ms))
            for key in ("turns_ms", "stt_ttfb_ms", "llm_ttfb_ms", "tts_ttfb_ms"):
                values.setdefault(key.removesuffix("_ms"), []).extend(latency.get(key) or [])
        return {
            key: {"p50": percentile(found, 50), "p99": percentile(found, 99)}
            for key, found in values.items()
            if found
        }

    def latency_rows(self, since: datetime) -> list[str | None]:
        """`calls.latency` (JSON text) of the calls started since `since`, from the server's
        database."""
        if self.database_url:
            import asyncio

            import asyncpg

            async def fetch(dsn: str) -> list[str | None]:
                conn = await asyncpg.connect(dsn)
                try:
                    rows = await conn.fetch(
                        "SELECT latency::text FROM calls WHERE started_at >= $1",
                        since.replace(tzinfo=UTC),
                    )
                finally:
                    await conn.close()
                return [row[0] for row in rows]

            return asyncio.run(fetch(self.database_url.replace("+asyncpg", "")))
        db = sqlite3.connect(self.work / "voxroute" / "voxroute.db")
        try:
            rows = db.execute(
                "SELECT latency FROM calls WHERE started_at >= ?", (since.isoformat(" "),)
            ).fetchall()
        finally:
            db.close()
        return [raw for (raw,) in rows]

    def ladder(self, name: str) -> dict[str, Any]:
        url_file = self.work / f"{name}.url"
        url_file.unlink(missing_ok=True)
        start = self.start_voxroute if name == "voxroute" else self.start_baseline
        proc = start(url_file)
        try:
            url = wait_for_url(url_file, proc)
            wait_healthy(url, proc)
            if name == "voxroute":
                self.prepare_demo_org()
            time.sleep(2.0)
            print(f"{name}: warm-up", flush=True)
            self.load(name, url, proc.pid, 2, 10.0)
            time.sleep(3.0)
            idle_rss = rss_mb(proc.pid)
            steps: list[Step] = []
            floor: float | None = None
            failures = 0
            for calls in [int(n) for n in self.args.ladder.split(",")]:
                duration = (
                    self.args.duration if floor is not None else max(40.0, self.args.duration)
                )
                step = self.load(name, url, proc.pid, calls, duration)
                steps.append(step)
                judge(step, floor)
                if floor is None:
                    floor = step.report["reply_latency_ms"]["p99"]
                print(
                    f"    → {'PASS' if step.passed else 'FAIL: ' + '; '.join(step.why)}", flush=True
                )
                time.sleep(4.0)  # let the server finish tearing the calls down
                failures = 0 if step.passed else failures + 1
                if failures >= 2:
                    break
        finally:
            stop(proc)
        passing = [s for s in steps if s.passed]
        best = max(passing, key=lambda s: s.calls) if passing else None
        return {
            "server": name,
            "reply_floor_ms": floor,
            "idle_rss_mb": round(idle_rss, 1),
            "capacity_calls_per_core": best.calls if best else 0,
            "at_capacity": best.row() if best else None,
            "steps": [s.row() for s in steps],
        }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))], 1)


def judge(step: Step, floor: float | None) -> None:
    r = step.report
    if r["calls_failed"]:
        step.why.append(f"{r['calls_failed']} failed")
    elif r["concurrency"]["peak"] < step.calls:  # never all up at once: not this step's load
        step.why.append(f"peak concurrency {r['concurrency']['peak']} < {step.calls}")
    jitter = r["frame_jitter_ms"]["p99"]
    if jitter is None or jitter > JITTER_P99_MAX_MS:
        step.why.append(f"jitter p99 {jitter} > {JITTER_P99_MAX_MS}")
    reply = r["reply_latency_ms"]["p99"]
    limit = (floor if floor is not None else r["reply_latency_ms"]["p99"] or 0) + REPLY_MARGIN_MS
    if reply is None or reply > limit:
        step.why.append(f"reply p99 {reply} > {limit:.0f}")
    step.passed = not step.why


@contextmanager
def postgres_database(admin_dsn: str, load_cpu: int) -> Iterator[str]:
    """A fresh database for one run (dropped after), on a PostgreSQL server whose processes
    are moved to the load core for the run, so the server core stays voxroute's alone."""
    import asyncio

    import asyncpg

    name = f"vxr_bench_{os.getpid()}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def postgres_pids() -> list[int]:
        found = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    affinity = {pid: os.sched_getaffinity(pid) for pid in postgres_pids()}
    for pid in affinity:  # backends forked later inherit the postmaster's
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {load_cpu})
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        for pid, cpus in affinity.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ladder", default=DEFAULT_LADDER, help="concurrent calls per step")
    parser.add_argument("--duration", type=float, default=25.0, help="seconds per step")
    parser.add_argument("--ramp-per-call", type=float, default=0.1, help="seconds between calls")
    parser.add_argument(
        "--nice", type=int, default=-10, help="niceness of every process started (root only <0)"
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="voxroute worker processes, all pinned to --server-cpu",
    )
    parser.add_argument("--load-cpu", type=int, default=1)
    parser.add_argument("--max-calls-per-worker", type=int, default=150)
    parser.add_argument("--only", choices=("voxroute", "baseline"), default=None)
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_DSN",
        default="",
        help="run voxroute on a fresh PostgreSQL database (e.g. "
        "postgresql://postgres@127.0.0.1:5432/test) instead of its embedded SQLite",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="VOXROUTE_NAME=VALUE",
        help="a voxroute setting for the server (repeatable), e.g. for an A/B of one knob",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--plot", type=Path, default=None, help="write the PNG plot here")
    args = parser.parse_args()
    global NICE
    NICE = args.nice
    # SIGTERM unwinds like Ctrl-C, so the servers and emulators started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
        "command": " ".join(sys.argv),
        "criteria": {"jitter_p99_max_ms": JITTER_P99_MAX_MS, "reply_margin_ms": REPLY_MARGIN_MS},
        "servers": {},
    }
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-capacity-"))
        bench = Bench(args, Path(tmp))
        if args.postgres:
            bench.database_url = stack.enter_context(
                postgres_database(args.postgres, args.load_cpu)
            )
            results["database"] = "postgresql"
        bench.start_emulators()
        try:
            for name in ("voxroute", "baseline"):
                if args.only in (None, name):
                    results["servers"][name] = bench.ladder(name)
        finally:
            if bench.emulators is not None:
                stop(bench.emulators)
            for log in Path(tmp).glob("*.log"):
                shutil.copy(log, args.out / log.name)
            for report in Path(tmp).glob("*-*.json"):
                shutil.copy(report, args.out / report.name)
    servers = results["servers"]
    if "voxroute" in servers and "baseline" in servers:
        vx = servers["voxroute"]["capacity_calls_per_core"]
        bl = servers["baseline"]["capacity_calls_per_core"]
        results["ratio"] = round(vx / bl, 2) if bl else None
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    for name, server in servers.items():
        print(
            f"{name}: {server['capacity_calls_per_core']} concurrent calls per core "
            f"(reply floor {server['reply_floor_ms']} ms)"
        )
    if "ratio" in results:
        print(f"ratio voxroute/baseline: {results['ratio']}")
    if args.plot is not None:
        from plot_capacity import plot  # bench/plot_capacity.py

        plot(results, args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
