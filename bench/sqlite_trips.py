"""A call set-up's database work on a busy event loop: SQLAlchemy's stock aiosqlite adapter
against voxroute's (`voxroute.db._aiosqlite`, one trip to aiosqlite's thread per statement).

Each sample is what a set-up does: a read session with two SELECTs, then a write
transaction (`BEGIN IMMEDIATE`, a SELECT, an UPDATE, two INSERTs, COMMIT) through
`write_session`. The loop is kept busy at a given duty cycle by chains of 1 ms Python
callbacks with idle gaps, as a loaded worker's media callbacks are. The two adapters
alternate, so the machine's speed affects both alike. Reported: wall time per sample
(p50/p99) and the loop thread's CPU per sample beyond the busy work (`time.thread_time`).

Usage:
    .venv/bin/python bench/sqlite_trips.py [--duty 0,0.3,0.5] [--rounds 2]

Above about 60 % the 1 ms busy chain starves the database thread altogether (uvloop's timers
round the idle gaps to whole milliseconds), and a run does not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from voxroute.db.session import create_engine, create_session_factory
from voxroute.db.transactions import write_session

WORK_S = 0.001
SAMPLES = 200
PAUSE_S = 0.002


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _engine(url: str, adapter: str) -> AsyncEngine:
    if adapter == "voxroute":
        return create_engine(url)
    return create_async_engine(url, connect_args={"timeout": 30})  # SQLAlchemy's own


async def _prepare(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS a"))
        await conn.execute(text("CREATE TABLE a (id INTEGER PRIMARY KEY, n INTEGER, v TEXT)"))
        await conn.execute(text("INSERT INTO a (n, v) VALUES (0, 'seed')"))


async def samples(url: str, adapter: str, duty: float) -> tuple[list[float], float]:
    engine = _engine(url, adapter)
    await _prepare(engine)
    factory = create_session_factory(engine)
    loop = asyncio.get_running_loop()
    running = duty > 0
    spun = 0.0

    def busy() -> None:
        nonlocal spun
        start = time.thread_time()
        _spin(WORK_S)
        spun += time.thread_time() - start
        if running:
            loop.call_later(WORK_S * (1 - duty) / duty, busy)

    if running:
        loop.call_soon(busy)
    walls: list[float] = []
    cpu_start = time.thread_time()
    for i in range(SAMPLES):
        start = time.perf_counter()
        async with factory() as session:
            await session.execute(text("SELECT * FROM a WHERE id = 1"))
            await session.execute(text("SELECT count(*) FROM a"))
        async with write_session(factory) as session:
            params: dict[str, Any] = {"i": i}
            await session.execute(text("SELECT n FROM a WHERE id = 1"))
            await session.execute(text("UPDATE a SET n = n + 1 WHERE id = 1"))
            await session.execute(text("INSERT INTO a (n, v) VALUES (:i, 'x')"), params)
            await session.execute(text("INSERT INTO a (n, v) VALUES (:i, 'y')"), params)
        walls.append(time.perf_counter() - start)
        await asyncio.sleep(PAUSE_S)
    running = False
    cpu = time.thread_time() - cpu_start - spun
    await engine.dispose()
    return sorted(walls), cpu / SAMPLES


def _ms(sorted_s: list[float], q: float) -> float:
    return sorted_s[min(len(sorted_s) - 1, int(q * len(sorted_s)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duty", default="0,0.3,0.5", help="event-loop busy fractions")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print("| loop busy | adapter | round | p50 ms | p99 ms | loop CPU per sample ms |")
    print("|---:|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        for duty in (float(d) for d in args.duty.split(",")):
            for round_ in range(1, args.rounds + 1):
                for adapter in ("stock", "voxroute"):
                    walls, cpu = uvloop.run(samples(url, adapter, duty))
                    print(
                        f"| {duty:.0%} | {adapter} | {round_} | {_ms(walls, 0.5):.2f} "
                        f"| {_ms(walls, 0.99):.2f} | {cpu * 1000:.2f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
