"""Run a load: ramp calls up, keep them talking, print progress, collect every result."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from voxroute.loadtest.clock import FrameClock
from voxroute.loadtest.config import LoadConfig
from voxroute.loadtest.line import Clip, LineStats, run_line
from voxroute.loadtest.stats import percentile
from voxroute.softphone import CallPlan, CallResult

__all__ = ["LoadRun", "run_load"]


@dataclass(slots=True)
class LoadRun:
    """Everything a finished run observed; `report.build_report` turns it into JSON."""

    config: LoadConfig
    lines: list[LineStats] = field(default_factory=list)
    load_lag_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    timed_out: bool = False


async def run_load(
    config: LoadConfig,
    *,
    progress: TextIO | None = sys.stderr,
    on_progress: Callable[[str], None] | None = None,
) -> LoadRun:
    """Run `config.calls` calls; never longer than `config.hard_limit_s`."""
    config.validate()
    clips = [Clip.load(path) for path in config.clips]
    run = LoadRun(config)
    clock = FrameClock()
    t0 = time.monotonic()
    ramp = config.effective_ramp_s
    # One end for every call: all of them are up together for the whole duration, whatever
    # the ramp (a call's own clock would have the first hang up while the last arrived).
    end = t0 + ramp + config.duration_s
    for index in range(config.calls):
        run.lines.append(LineStats(result=CallResult(), index=index))

    async def one(stats: LineStats) -> None:
        start = t0 + (ramp * stats.index / config.calls if config.calls > 1 else 0.0)
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        plan = CallPlan(
            config.url,
            config.number,
            config.from_number,
            config.account_sid,
            config.auth_token,
            initial_wait_s=config.initial_wait_s,
            pause_s=config.pause_s,
            quiet_s=config.quiet_s,
            reply_timeout_s=config.reply_timeout_s,
        )
        stats.result.call_sid = plan.call_sid
        stats.started_at = time.monotonic() - t0
        await run_line(plan, clips, clock, stats, end)

    clock_task = asyncio.create_task(clock.run(), name="loadtest-clock")
    calls = [asyncio.create_task(one(s), name=f"loadtest-call-{s.index}") for s in run.lines]
    reporter = asyncio.create_task(
        _progress(run, t0, progress, on_progress), name="loadtest-progress"
    )
    try:
        _, pending = await asyncio.wait(calls, timeout=config.hard_limit_s)
        if pending:
            run.timed_out = True
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task, stats in zip(calls, run.lines, strict=True):
            if task.cancelled():
                stats.result.error = stats.result.error or "cancelled at the run's time limit"
            elif task.exception() is not None:
                exc = task.exception()
                stats.result.error = f"load generator error: {type(exc).__name__}: {exc}"
    finally:
        for task in (clock_task, reporter, *calls):
            task.cancel()
        await asyncio.gather(clock_task, reporter, *calls, return_exceptions=True)
    run.load_lag_ms = clock.lag_ms
    run.wall_s = round(time.monotonic() - t0, 2)
    return run


def progress_line(run: LoadRun, elapsed: float) -> str:
    """One line of live state; drains each call's recent gaps so p99 is for the last period."""
    lines = run.lines
    recent: list[float] = []
    for stats in lines:
        recent.extend(stats.recent_gaps_ms)
        stats.recent_gaps_ms.clear()
    live = sum(1 for s in lines if s.live)
    done = [s for s in lines if s.result.duration_s > 0 or s.refused]
    failed = sum(1 for s in done if s.failed)
    replies = [v for s in lines for v in s.result.reply_latency_ms[-3:]]
    gap = percentile(recent, 0.99)
    reply = percentile(replies, 0.99)
    return (
        f"[{elapsed:6.1f}s] live {live:4d}  done {len(done):4d}/{len(lines)}  failed {failed:3d}"
        f"  gap p99 {'-' if gap is None else f'{gap:.0f}'} ms"
        f"  reply p99 {'-' if reply is None else f'{reply:.0f}'} ms"
        f"  underruns {sum(s.underruns for s in lines)}"
    )


async def _progress(
    run: LoadRun, t0: float, out: TextIO | None, sink: Callable[[str], None] | None
) -> None:
    while True:
        await asyncio.sleep(run.config.progress_interval_s)
        text = progress_line(run, time.monotonic() - t0)
        if out is not None:
            out.write(text + "\n")
            out.flush()
        if sink is not None:
            sink(text)
