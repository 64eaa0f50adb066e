"""What a softphone call observed, and its one-screen summary."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CallResult", "format_result"]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(slots=True)
class CallResult:
    """Timings are milliseconds on the softphone's monotonic clock."""

    webhook_status: int = 0
    error: str | None = None
    call_sid: str = ""
    stream_sid: str = ""
    setup_ms: float | None = None  # webhook sent → first frame back from the pipeline
    webhook_ms: float | None = None  # webhook sent → TwiML answer (part of set-up)
    stream_open_ms: float | None = None  # webhook sent → media websocket open
    reply_latency_ms: list[float] = field(default_factory=list)  # utterance end → first audio
    outbound_gaps_ms: list[float] = field(default_factory=list)  # within bot utterances
    media_frames_sent: int = 0
    media_frames_received: int = 0
    audio_received_s: float = 0.0
    marks_received: list[str] = field(default_factory=list)
    marks_echoed: list[str] = field(default_factory=list)
    clears: int = 0
    other_events: list[str] = field(default_factory=list)
    hung_up_by: str = ""  # "caller" (we sent stop) or "server" (socket closed by voxroute)
    close_code: int | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.webhook_status == 200

    @property
    def gap_p99_ms(self) -> float | None:
        return _pct(self.outbound_gaps_ms, 0.99)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def format_result(result: CallResult) -> str:
    """Human-readable summary for `voxroute call`."""
    lines = [
        f"call {result.call_sid or '?'}: {'ok' if result.ok else 'FAILED'}"
        + (f" ({result.error})" if result.error else ""),
        f"  webhook HTTP {result.webhook_status}; hung up by {result.hung_up_by or '?'}"
        + (f" (close code {result.close_code})" if result.close_code is not None else ""),
        f"  duration {result.duration_s:.1f} s; setup {_fmt(result.setup_ms)}",
        f"  sent {result.media_frames_sent} frames; received {result.media_frames_received} "
        f"frames ({result.audio_received_s:.1f} s of audio)",
        "  reply latency: " + (", ".join(_fmt(v) for v in result.reply_latency_ms) or "no replies"),
        f"  outbound frame gaps: p50 {_fmt(_pct(result.outbound_gaps_ms, 0.5))}, "
        f"p99 {_fmt(result.gap_p99_ms)}, max {_fmt(max(result.outbound_gaps_ms, default=None))}",
        f"  marks: {len(result.marks_received)} received, {len(result.marks_echoed)} echoed; "
        f"clears: {result.clears}",
    ]
    return "\n".join(lines)
