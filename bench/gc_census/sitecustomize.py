"""What the garbage collector traverses in a loaded worker: every collection's pause, and
a census by type of the young generations at a few generation-1 collections.

A generation-1 collection holds the GIL for every object in generations 0 and 1; on a
worker with a hundred calls it is the longest single pause left (BENCHMARKS.md). The
census tells which objects those are. Loaded as `sitecustomize` by every Python process
started with this folder on `PYTHONPATH`; it acts only in `voxroute serve`, and writes
`gc-<pid>.txt` to `$GC_CENSUS_DIR` (default: the current directory):

    GC_CENSUS_DIR=/tmp/gc PYTHONPATH=bench/gc_census .venv/bin/python \\
        bench/capacity.py --only voxroute --ladder 100 --duration 45 --out DIR
    .venv/bin/python bench/gc_census/sitecustomize.py /tmp/gc/gc-*.txt --after 45

With a code tree to compare, put it first: `PYTHONPATH=/tmp/wt-base/src:bench/gc_census`.
The census itself stops the worker (a `gc.get_objects` of tens of thousands of objects),
so it is taken only three times, from `GC_CENSUS_AFTER_S` seconds after start-up on
(default 45: inside the ladder's first step); that collection's pause is measured after
the census.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

CENSUSES = 3
TOP_TYPES = 40
_LINE = re.compile(r"([\d.]+) gen(\d) collected=(\d+) pause_ms=([\d.]+)")


class _Probe:
    def __init__(self, out: TextIO, census_after_s: float) -> None:
        self._out = out
        self._t0 = time.monotonic()
        self._census_after = census_after_s
        self._censuses = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        generation = info["generation"]
        now = time.monotonic() - self._t0
        if phase == "start":
            if generation >= 1 and now > self._census_after and self._censuses < CENSUSES:
                self._census(generation, now)
            self._started = time.perf_counter()
            return
        pause_ms = (time.perf_counter() - self._started) * 1e3
        self._out.write(
            f"{now:.2f} gen{generation} collected={info['collected']} pause_ms={pause_ms:.2f}\n"
        )
        self._out.flush()

    def _census(self, generation: int, now: float) -> None:
        self._censuses += 1
        objects = [o for g in range(generation + 1) for o in gc.get_objects(g)]
        types = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objects)
        self._out.write(f"--- census at {now:.2f}s, generations 0-{generation}: {len(objects)}\n")
        for name, count in types.most_common(TOP_TYPES):
            self._out.write(f"  {count:7d} {name}\n")


def _install() -> None:
    folder = Path(os.environ.get("GC_CENSUS_DIR", "."))
    folder.mkdir(parents=True, exist_ok=True)
    out = (folder / f"gc-{os.getpid()}.txt").open("w")
    gc.callbacks.append(_Probe(out, float(os.environ.get("GC_CENSUS_AFTER_S", "45"))))


def summarize(path: Path, after_s: float) -> str:
    """Collections and pauses by generation after `after_s`, and each census's total."""
    pauses: dict[str, list[float]] = {}
    censuses: list[str] = []
    for line in path.read_text().splitlines():
        match = _LINE.match(line)
        if match and float(match[1]) > after_s:
            pauses.setdefault(f"gen{match[2]}", []).append(float(match[4]))
        elif line.startswith("--- census"):
            censuses.append(line.rsplit(": ", 1)[1])
    parts = [
        f"{gen}: {len(ms)} collections, {sum(ms):.0f} ms in all, max {max(ms):.1f} ms"
        for gen, ms in sorted(pauses.items())
    ]
    return f"{path.name}: " + "; ".join(parts) + f"; census objects {', '.join(censuses)}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Summarize gc-<pid>.txt files.")
    parser.add_argument("logs", nargs="+", type=Path)
    parser.add_argument("--after", type=float, default=45.0, help="seconds from start-up")
    args = parser.parse_args()
    for log in args.logs:
        print(summarize(log, args.after))


if __name__ == "__main__":
    main()
elif sys.argv[1:2] == ["serve"] and Path(sys.argv[0]).name == "voxroute":
    _install()
