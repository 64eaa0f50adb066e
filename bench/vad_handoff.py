"""What the batched VAD's model thread costs the worker: one Silero run per round, in the
batcher's one-thread executor (as `VadBatcher._score` does) or inline on the event loop.

A GIL-only py-spy profile at 100 calls puts ~10 % of the loop's samples on the executor's
`submit` line. This measures the process's CPU directly instead: the same rounds of the
model (a batch of `--rows` windows at 8 kHz) interleaved with the same amount of other
Python work on the loop, both modes alternating, on whatever cores the process is given
(pin it with `taskset -c 0` for the worker's one core). Wall time is not compared: inline,
the loop is blocked for the whole model run.

    taskset -c 0 .venv/bin/python bench/vad_handoff.py [--rows 100] [--rounds 600]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import uvloop

from voxroute.calls.vad import _shared_session

CONTEXT, WINDOW = 32, 256  # Silero at 8 kHz
OTHER_WORK_STEPS = 100  # loop steps of other Python work per model round


def busy(n: int = 300) -> int:
    """A few microseconds of Python, standing in for the loop's other calls."""
    total = 0
    for i in range(n):
        total += i * i
    return total


async def cpu_per_round(mode: str, rows: int, rounds: int) -> float:
    session: Any = _shared_session()
    feeds = {
        "input": (np.random.default_rng(1).standard_normal((rows, CONTEXT + WINDOW)) * 0.1).astype(
            np.float32
        ),
        "state": np.zeros((2, rows, 128), np.float32),
        "sr": np.array(8000, dtype=np.int64),
    }

    def run() -> object:
        return session.run(None, feeds)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad-batch") as executor:
        executor.submit(run).result()  # warm

        async def model_rounds() -> None:
            for _ in range(rounds):
                if mode == "inline":
                    run()
                else:
                    await asyncio.wrap_future(executor.submit(run))
                await asyncio.sleep(0.002)

        async def other_work() -> None:
            for _ in range(rounds * OTHER_WORK_STEPS):
                busy()
                await asyncio.sleep(0)

        started = time.process_time()
        await asyncio.gather(model_rounds(), other_work())
        return (time.process_time() - started) * 1000 / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100, help="windows per model run (calls)")
    parser.add_argument("--rounds", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"thread": [], "inline": []}
    for _ in range(args.repeats):
        for mode in results:
            results[mode].append(uvloop.run(cpu_per_round(mode, args.rows, args.rounds)))
    print(f"{args.rows} rows a round, {args.rounds} rounds, {args.repeats} alternating repeats")
    for mode, values in results.items():
        print(
            f"  {mode:6s} process CPU per round (model + other work): median "
            f"{statistics.median(values):.3f} ms  (all: {', '.join(f'{v:.3f}' for v in values)})"
        )
    extra = statistics.median(results["thread"]) - statistics.median(results["inline"])
    print(f"  the thread's extra CPU per round: {extra * 1000:+.0f} µs")


if __name__ == "__main__":
    main()
