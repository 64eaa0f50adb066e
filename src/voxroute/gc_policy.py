"""The garbage collector on a real-time worker: rare full collections, every pause measured.

A collection holds the GIL, so it stops the event loop and with it every call's audio. A
full (generation 2) collection traverses every tracked object: 100–200 ms on a worker with
100 live calls (`bench/gc_census/`). CPython runs one after every 10 generation-1 collections
once the long-lived objects have grown by a quarter, which with calls arriving is every few
seconds. `tune_collector` raises the 10 (`Settings.gc_full_after`, default 1000: a full
collection every several minutes under load instead of every few seconds). The cyclic
garbage of ended calls waits that long to be freed; live calls stop far less often.

`GcPauses` reports every collection's pause to Prometheus by generation, so an operator can
tell a collector stall from other event-loop lag.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

__all__ = ["GcPauses", "tune_collector"]


def tune_collector(full_after: int) -> None:
    """Run a full collection only after `full_after` generation-1 collections."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, full_after)


class GcPauses:
    """Observes each collection's duration into `histogram` (label: generation)."""

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._started = 0.0

    def install(self) -> None:
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def remove(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            paused = time.perf_counter() - self._started
            self._histogram.labels(str(info["generation"])).observe(paused)
