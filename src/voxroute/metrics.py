"""Prometheus metrics of one worker process, on a registry of its own (one per app).

Labels are closed vocabularies only — stage, provider, key source, end reason, error
category — never ids, numbers or anything a tenant typed, so no label can carry a secret.
With several workers each process exposes its own figures (scrape every worker, or sum).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from voxroute.calls.host import CallReport
from voxroute.routing.types import ResolvedStage

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

TURN_BUCKETS_S = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
GC_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


class Metrics:
    """One worker's Prometheus figures, on a registry per app so apps in one process don't mix."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Tasks alive on the worker's event loop: flat under steady load, or something leaks.
        self.asyncio_tasks = Gauge(
            "voxroute_asyncio_tasks", "Tasks on this worker's event loop.", registry=self.registry
        )
        self.asyncio_tasks.set_function(lambda: float(_task_count()))
        self.active_calls = Gauge(
            "voxroute_active_calls", "Live calls on this worker.", registry=self.registry
        )
        self.loop_lag = Gauge(
            "voxroute_event_loop_lag_seconds",
            "Median event-loop lag seen by the admission watchdog.",
            registry=self.registry,
        )
        self.loop_busy = Gauge(
            "voxroute_event_loop_busy_ratio",
            "Share of the last seconds the event-loop thread spent on the CPU.",
            registry=self.registry,
        )
        self.calls_ended = Counter(
            "voxroute_calls_ended_total",
            "Calls ended, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.stage_keys = Counter(
            "voxroute_stage_keys_total",
            "Stages served, by stage, provider and key source.",
            ["stage", "provider", "source"],
            registry=self.registry,
        )
        self.credential_failures = Counter(
            "voxroute_credential_failures_total",
            "Keys a provider refused, by provider and category.",
            ["provider", "category"],
            registry=self.registry,
        )
        # Alert on any increase: a call's hold the sweeper could not close (see the logs).
        self.billing_sweep_failures = Counter(
            "voxroute_billing_sweep_failures_total",
            "Credit holds of dead calls the billing sweeper failed to close.",
            registry=self.registry,
        )
        self.turn_latency = Histogram(
            "voxroute_turn_latency_seconds",
            "End of caller speech to first assistant audio.",
            buckets=TURN_BUCKETS_S,
            registry=self.registry,
        )
        # The inbound guard (telephony/inbound_guard.py), counted when each call ends.
        self.inbound_dropped = Counter(
            "voxroute_inbound_dropped_total",
            "Inbound media-stream messages dropped for arriving faster than allowed, by kind "
            "(audio: media frames; event: every other message; after_flood: anything once "
            "the stream was being closed for flooding).",
            ["kind"],
            registry=self.registry,
        )
        self.inbound_audio_dropped = Counter(
            "voxroute_inbound_audio_dropped_seconds_total",
            "Seconds of caller audio dropped for arriving faster than real time.",
            registry=self.registry,
        )
        # Every call's audio stops while the collector runs (gc_policy.py).
        self.gc_pauses = Histogram(
            "voxroute_gc_pause_seconds",
            "Garbage-collector pauses of this worker, by generation.",
            ["generation"],
            buckets=GC_BUCKETS_S,
            registry=self.registry,
        )

    def watch(
        self,
        *,
        active: Callable[[], int],
        loop_lag_ms: Callable[[], float],
        loop_busy: Callable[[], float],
    ) -> None:
        self.active_calls.set_function(lambda: float(active()))
        self.loop_lag.set_function(lambda: loop_lag_ms() / 1000.0)
        self.loop_busy.set_function(loop_busy)

    def stages_resolved(self, stages: list[ResolvedStage]) -> None:
        for stage in stages:
            self.stage_keys.labels(stage.stage, stage.provider, stage.source).inc()

    def credential_failed(self, stage: ResolvedStage, category: str) -> None:
        self.credential_failures.labels(stage.provider, category).inc()

    def call_ended(self, report: CallReport) -> None:
        # Stage failures carry ":stage"; the reason family keeps the label set closed.
        self.calls_ended.labels(report.end_reason).inc()
        for turn_ms in report.latency.get("turns_ms", []):
            self.turn_latency.observe(float(turn_ms) / 1000.0)
        inbound = report.latency.get("inbound")
        if isinstance(inbound, dict):
            self.inbound_dropped.labels("audio").inc(inbound.get("audio_dropped_frames", 0))
            self.inbound_dropped.labels("event").inc(inbound.get("events_dropped", 0))
            self.inbound_dropped.labels("after_flood").inc(inbound.get("dropped_after_trip", 0))
            self.inbound_audio_dropped.inc(inbound.get("audio_dropped_s", 0.0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _task_count() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # scraped off the loop (never in the server): nothing to count
        return 0
