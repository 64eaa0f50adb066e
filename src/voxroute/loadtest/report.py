"""The JSON report and the human summary of a load run.

Failures are split by when they happened, because they mean different things: `refused`
calls never got a media stream (admission control said busy, or the set-up failed), while
`dropped` calls were set up and then lost, which is what a caller would hear as a cut-off.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from voxroute.loadtest.runner import LoadRun
from voxroute.loadtest.stats import concurrency, summary

__all__ = ["REPORT_VERSION", "build_report", "format_report"]

REPORT_VERSION = 1


def build_report(run: LoadRun) -> dict[str, Any]:
    """The `--json` document; top-level keys are the stable interface of the report."""
    config = run.config
    lines = run.lines
    completed = [s for s in lines if not s.failed]
    setup = [s.result.setup_ms for s in lines if s.result.setup_ms is not None]
    replies = [v for s in lines for v in s.result.reply_latency_ms]
    gaps = [v for s in lines for v in s.result.outbound_gaps_ms]
    jitter = [v for s in lines for v in s.jitter_ms]
    frames_in = sum(s.result.media_frames_received for s in lines)
    audio_in = sum(s.result.audio_received_s for s in lines)
    return {
        "version": REPORT_VERSION,
        "target": config.url,
        "config": {
            "calls": config.calls,
            "duration_s": config.duration_s,
            "ramp_s": config.effective_ramp_s,
            "pause_s": config.pause_s,
            "clips": [p.name for p in config.clips],
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "wall_s": run.wall_s,
        "timed_out": run.timed_out,
        "calls_started": len(lines),
        "calls_completed": len(completed),
        "calls_failed": len(lines) - len(completed),
        "calls_refused": sum(1 for s in lines if s.refused),
        "calls_dropped": sum(1 for s in lines if s.dropped),
        "calls_ended_by_server": sum(1 for s in lines if s.ended_by_server),
        # Calls up at once and how long all that went live were up together: what "N
        # concurrent calls" really held, whatever the ramp and the refusals.
        "concurrency": concurrency([s.live_span for s in lines if s.live_span is not None]),
        "setup_ms": summary(setup),
        # Where set-up time goes as the caller sees it: the webhook's answer, then the
        # websocket's handshake; the rest to `setup_ms` is the server building the call.
        "setup_phases_ms": {
            "webhook": summary([s.result.webhook_ms for s in lines if s.result.webhook_ms]),
            "stream_open": summary(
                [s.result.stream_open_ms for s in lines if s.result.stream_open_ms]
            ),
        },
        "reply_latency_ms": summary(replies),
        "frame_gap_ms": summary(gaps),
        # Lateness of a frame against the length of the one before: framing-independent
        # (pipecat sends 40 ms frames by default, Twilio's own are 20 ms).
        "frame_jitter_ms": summary(jitter),
        "frame_ms": round(audio_in / frames_in * 1000, 1) if frames_in else None,
        "underruns": sum(s.underruns for s in lines),
        "utterances": sum(s.utterances for s in lines),
        "replies": len(replies),
        "load_lag_ms": summary(run.load_lag_ms),
        "errors": _errors(run),
        "per_call": [_call(s) for s in lines],
    }


def _errors(run: LoadRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for stats in run.lines:
        if stats.failed:
            key = stats.result.error or f"webhook HTTP {stats.result.webhook_status}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def _call(stats: Any) -> dict[str, Any]:
    result = stats.result
    return {
        "index": stats.index,
        "call_sid": result.call_sid,
        "ok": not stats.failed,
        "error": result.error,
        "started_at_s": round(stats.started_at, 3),
        "duration_s": result.duration_s,
        "setup_ms": result.setup_ms,
        "webhook_ms": result.webhook_ms,
        "stream_open_ms": result.stream_open_ms,
        "reply_latency_ms": result.reply_latency_ms,
        "frame_gap_p99_ms": summary(result.outbound_gaps_ms)["p99"],
        "underruns": stats.underruns,
        "utterances": stats.utterances,
        "frames_sent": result.media_frames_sent,
        "frames_received": result.media_frames_received,
        "hung_up_by": result.hung_up_by,
        "close_code": result.close_code,
    }


def _fmt(block: dict[str, Any]) -> str:
    if not block.get("count"):
        return "-"
    return f"p50 {block['p50']:.1f}  p99 {block['p99']:.1f}  max {block['max']:.1f} ms"


def format_report(report: dict[str, Any]) -> str:
    """A few lines for a person; the JSON holds the rest."""
    lag = report["load_lag_ms"]
    lines = [
        f"voxroute loadtest → {report['target']}: {report['config']['calls']} calls × "
        f"{report['config']['duration_s']:.0f} s (ramp {report['config']['ramp_s']:.1f} s), "
        f"wall {report['wall_s']:.1f} s",
        f"  completed {report['calls_completed']}  failed {report['calls_failed']} "
        f"(refused {report['calls_refused']}, dropped {report['calls_dropped']}); "
        f"ended by the assistant {report['calls_ended_by_server']}",
        f"  concurrent     peak {report['concurrency']['peak']}, all live together for "
        f"{report['concurrency']['all_live_s']:.1f} s",
        f"  set-up         {_fmt(report['setup_ms'])}",
        f"    webhook      {_fmt(report['setup_phases_ms']['webhook'])}",
        f"    stream open  {_fmt(report['setup_phases_ms']['stream_open'])}",
        f"  reply latency  {_fmt(report['reply_latency_ms'])}  ({report['replies']} replies)",
        f"  frame gap      {_fmt(report['frame_gap_ms'])}  (frames of "
        f"{report['frame_ms'] or '-'} ms; underruns {report['underruns']})",
        f"  frame jitter   {_fmt(report['frame_jitter_ms'])}",
        f"  load-side lag  {_fmt(lag)}"
        + ("  ← the load generator is saturated" if (lag.get("p99") or 0) > 10 else ""),
    ]
    for error, count in sorted(report["errors"].items(), key=lambda kv: -kv[1])[:5]:
        lines.append(f"  {count:4d} × {error}")
    return "\n".join(lines)
