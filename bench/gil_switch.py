"""A database round trip on a busy event loop, by GIL switch interval.

A worker's SQLite statements run in aiosqlite's thread: the thread needs the GIL to run the
statement, then hands the result back with `call_soon_threadsafe`. While the event loop's
thread runs Python, CPython makes the waiting thread wait a whole switch interval before it
forces a switch. This measures `SELECT 1` round trips on a uvloop loop kept busy at a given
duty cycle (chains of 1 ms Python callbacks with idle gaps between them, as a loaded worker's
audio, websocket and pipeline callbacks are), for each interval in turn, alternating, so the
machine's speed affects both alike.

Usage:
    .venv/bin/python bench/gil_switch.py [--duty 0.4,0.7,0.85] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiosqlite
import uvloop

WORK_S = 0.001  # one callback's Python work
SAMPLES = 400
PAUSE_S = 0.002  # between round trips


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def round_trips(path: Path, duty: float, interval_s: float) -> list[float]:
    sys.setswitchinterval(interval_s)
    loop = asyncio.get_running_loop()
    gap = WORK_S * (1 - duty) / duty
    running = True

    def busy() -> None:
        _spin(WORK_S)
        if running:
            loop.call_later(gap, busy)

    loop.call_soon(busy)
    latencies: list[float] = []
    async with aiosqlite.connect(path) as db:
        for _ in range(SAMPLES):
            start = time.perf_counter()
            await db.execute("SELECT 1")
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(PAUSE_S)
    running = False
    return sorted(latencies)


def _ms(sorted_s: list[float], q: float) -> float:
    return sorted_s[min(len(sorted_s) - 1, int(q * len(sorted_s)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duty", default="0.4,0.7,0.85", help="event-loop busy fractions")
    parser.add_argument("--intervals-ms", default="5,1", help="switch intervals to compare")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    duties = [float(d) for d in args.duty.split(",")]
    intervals = [float(i) / 1000 for i in args.intervals_ms.split(",")]
    print("| loop busy | switch interval | round | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        for duty in duties:
            for round_ in range(1, args.rounds + 1):
                for interval in intervals:
                    lat = uvloop.run(round_trips(path, duty, interval))
                    print(
                        f"| {duty:.0%} | {interval * 1000:g} ms | {round_} | {_ms(lat, 0.5):.2f} "
                        f"| {_ms(lat, 0.9):.2f} | {_ms(lat, 0.99):.2f} | {lat[-1] * 1000:.1f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
