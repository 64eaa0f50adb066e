"""CPU per batch of usage rows: rows embedded in the INSERT (`.values(rows)`, compiled on
every call) against one cached statement with the rows as executemany parameters (what
`db.transactions.insert_ignore` does).

The usage recorder writes each call's metered usage in batches; at 100 calls a worker sends
several such INSERTs a second, and the compile showed as 5 % of its event loop in a profile.
Both forms run here alternating, on a fresh SQLite file, through the same
engine and driver (aiosqlite) the server uses; the figure is the event loop's own CPU
(`time.thread_time`), not the database's thread.

    .venv/bin/python bench/usage_insert.py [--rows 20] [--batches 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from voxroute.db.base import Base
from voxroute.db.models.billing import UsageRecord
from voxroute.db.transactions import insert_ignore

KEY = ["org_id", "call_id", "stage", "unit", "seq"]
Insert = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[int]]


async def embedded(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """The form voxroute used before: a new statement with the rows in it, every call."""
    stmt = sqlite.insert(UsageRecord).values(rows).on_conflict_do_nothing(index_elements=KEY)
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


async def executemany(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    return await insert_ignore(session, UsageRecord, rows, KEY)


def batch(start: int, size: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "id": f"use_{start + i}",
            "org_id": "org_bench",
            "call_id": "call_bench",
            "seq": start + i,
            "stage": "llm",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "key_source": "managed",
            "credential_id": None,
            "unit": "llm_output_tokens",
            "quantity": 12,
            "cost_micros": 7,
            "billed_micros": 7,
            "created_at": now,
        }
        for i in range(size)
    ]


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_async_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        factory = async_sessionmaker(engine, expire_on_commit=False)
        seq = 0

        async def measure(insert: Insert) -> float:
            """Loop-thread CPU µs per batch over `args.batches` committed batches."""
            nonlocal seq
            cpu = time.thread_time()
            for _ in range(args.batches):
                async with factory() as session, session.begin():
                    inserted = await insert(session, batch(seq, args.rows))
                assert inserted == args.rows, inserted
                seq += args.rows
            return float((time.thread_time() - cpu) / args.batches * 1e6)

        await measure(executemany)  # warm-up: imports, the statement cache, the file
        await measure(embedded)
        results: dict[str, list[float]] = {"embedded": [], "executemany": []}
        for _ in range(args.rounds):
            results["embedded"].append(await measure(embedded))
            results["executemany"].append(await measure(executemany))
        await engine.dispose()
    old, new = (statistics.median(results[k]) for k in ("embedded", "executemany"))
    print(f"{args.rows} rows per INSERT, {args.batches} batches × {args.rounds} rounds")
    print(f"  rows embedded (.values(rows)): {old:8.0f} µs of loop CPU per batch")
    print(f"  cached statement, executemany: {new:8.0f} µs of loop CPU per batch")
    print(f"  ratio {old / new:.1f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
