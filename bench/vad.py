"""CPU per VAD window: pipecat's Silero, voxroute's shared-session Silero, and `VadBatcher`.

Every mode scores the same audio: the test utterances (8 kHz) with their near-silent
windows cut out, looped, so every window runs the model (the worst case: the silence gate
never helps). N streams are fed 20 ms chunks in real time on one 20 ms clock, spread over
10 phase slots 2 ms apart (as `voxroute loadtest` spreads calls), so each mode's work is
interleaved with idle time as in a worker, not run back to back with warm caches.

* `pipecat`: pipecat's `SileroVADAnalyzer` per stream (own session), `analyze_audio` per
  chunk: its executor hop included, as pipecat's VAD controller calls it.
* `shared`: `SharedSileroVADAnalyzer` per stream, `analyze_audio` per chunk (inline).
* `batched`: one `VadBatcher` (default `max_delay_s`), one `VadStream` per stream.

The main figure is CPU time (`time.process_time`: all threads of the process, so the
batcher's model thread is counted), not wall time: the box is shared. The clock's own cost
(timers, no audio) is measured in the same run and subtracted. Batched modes also report
rows per ONNX run and the delay from the chunk that completes a window to its decision.

Usage:
    .venv/bin/python bench/vad.py [--seconds 6] [--out bench/results/vad.md]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

from voxroute.calls.vad import SILENCE_MEAN_SQUARE, SharedSileroVADAnalyzer, preload_vad
from voxroute.calls.vad_batch import VadBatcher, VadStream
from voxroute.softphone.audio import load_ulaw, ulaw_to_pcm16

ROOT = Path(__file__).resolve().parent.parent
RATE = 8000
WINDOW = 256
WINDOW_BYTES = WINDOW * 2
CHUNK_BYTES = 320  # 20 ms
TICK_S = 0.02
SLOTS = 10
STREAMS = (1, 10, 50, 100)
RUNS = (
    [("pipecat", n) for n in (1, 10)]  # one ONNX session (~10 MB) per stream: not 100
    + [("shared", n) for n in STREAMS]
    + [("batched", n) for n in STREAMS]
)


def speech_audio(seconds: float) -> bytes:
    """The utterances without their near-silent windows, looped to `seconds`."""
    windows: list[np.ndarray] = []
    for path in sorted((ROOT / "tests/data/audio").glob("utterance-*.ulaw8k.wav")):
        pcm = ulaw_to_pcm16(load_ulaw(path))
        for start in range(0, pcm.size - WINDOW + 1, WINDOW):
            window = pcm[start : start + WINDOW].astype(np.float32)
            if float(np.dot(window, window)) / WINDOW >= SILENCE_MEAN_SQUARE:
                windows.append(pcm[start : start + WINDOW])
    speech = np.concatenate(windows)
    samples = int(seconds * RATE) // WINDOW * WINDOW
    return np.tile(speech, samples // speech.size + 1)[:samples].tobytes()


@dataclass
class Result:
    mode: str
    streams: int
    windows: int
    cpu_s: float
    wall_s: float
    runs: list[int] = field(default_factory=list)
    delays_ms: list[float] = field(default_factory=list)

    def cpu_us_per_window(self, clock_cpu_s: float) -> float:
        return (self.cpu_s - clock_cpu_s) / self.windows * 1e6


async def paced(chunks: list[bytes], streams: int, feed: Callable[[int, bytes], Any]) -> None:
    """Feed every stream each 20 ms chunk on time; `feed` may return an awaitable."""
    loop = asyncio.get_running_loop()
    slots = [range(slot, streams, SLOTS) for slot in range(SLOTS)]
    start = loop.time()
    for tick, chunk in enumerate(chunks):
        for slot, members in enumerate(slots):
            delay = start + tick * TICK_S + slot * TICK_S / SLOTS - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            pending = [feed(index, chunk) for index in members]
            awaitables = [p for p in pending if isinstance(p, Awaitable)]
            if awaitables:
                await asyncio.gather(*awaitables)


async def clock_only(audio: bytes) -> float:
    """CPU of the clock alone (timers and the feeding loop, no audio work)."""
    cpu = time.process_time()
    await paced(chunks_of(audio), 1, lambda index, chunk: None)
    return time.process_time() - cpu


def chunks_of(audio: bytes) -> list[bytes]:
    return [audio[i : i + CHUNK_BYTES] for i in range(0, len(audio), CHUNK_BYTES)]


async def sequential(mode: str, streams: int, audio: bytes) -> Result:
    analyzers: list[VADAnalyzer] = []
    for _ in range(streams):
        analyzer: VADAnalyzer = (
            SileroVADAnalyzer(sample_rate=RATE, params=VADParams())
            if mode == "pipecat"
            else SharedSileroVADAnalyzer(sample_rate=RATE, params=VADParams())
        )
        analyzer.set_sample_rate(RATE)
        analyzers.append(analyzer)
    cpu, wall = time.process_time(), time.perf_counter()
    await paced(
        chunks_of(audio), streams, lambda index, chunk: analyzers[index].analyze_audio(chunk)
    )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for analyzer in analyzers:
        await analyzer.cleanup()
    return Result(mode, streams, len(audio) // WINDOW_BYTES * streams, cpu, wall)


class _Ignore:
    def on_vad_state(self, state: VADState) -> None:
        pass


def _timed(stream: VadStream, times: list[float], done: Callable[[], None]) -> None:
    """Record when each of the stream's windows is decided (wraps its per-window step)."""
    decide = stream._decide

    def timed(confidence: np.float32, energy: float, ends_feed: bool) -> None:
        times.append(time.perf_counter())
        decide(confidence, energy, ends_feed)
        done()

    stream._decide = timed  # type: ignore[method-assign]


async def batched(streams: int, audio: bytes) -> Result:
    batcher = VadBatcher(sample_rate=RATE)
    await batcher.start()
    result = Result("batched", streams, len(audio) // WINDOW_BYTES * streams, 0.0, 0.0)
    run_model = batcher._run_model

    def counting_run(x: Any, state: Any) -> Any:
        result.runs.append(x.shape[0])
        return run_model(x, state)

    batcher._run_model = counting_run  # type: ignore[method-assign]
    opened = [batcher.open(VADParams(), _Ignore()) for _ in range(streams)]
    fed_at: list[list[float]] = [[] for _ in opened]
    decided_at: list[list[float]] = [[] for _ in opened]
    all_decided = asyncio.Event()
    remaining = [result.windows]

    def one_decided() -> None:
        remaining[0] -= 1
        if not remaining[0]:
            all_decided.set()

    for stream, times in zip(opened, decided_at, strict=True):
        _timed(stream, times, one_decided)

    def feed(index: int, chunk: bytes) -> None:
        fed_at[index].append(time.perf_counter())
        opened[index].feed(chunk)

    cpu, wall = time.process_time(), time.perf_counter()
    await paced(chunks_of(audio), streams, feed)
    await all_decided.wait()
    result.cpu_s, result.wall_s = time.process_time() - cpu, time.perf_counter() - wall
    await batcher.aclose()
    for fed, decided in zip(fed_at, decided_at, strict=True):
        for window, at in enumerate(decided):
            completing_chunk = ((window + 1) * WINDOW_BYTES - 1) // CHUNK_BYTES
            result.delays_ms.append((at - fed[completing_chunk]) * 1000)
    result.delays_ms.sort()
    return result


def machine() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout
    return (
        f"{fields.get('Model name', platform.processor()).strip()}, "
        f"`nproc` = {nproc.strip()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def table(results: list[Result], clock_cpu_s: float, seconds: float) -> str:
    shared = {r.streams: r.cpu_us_per_window(clock_cpu_s) for r in results if r.mode == "shared"}
    lines = [
        "| mode | streams | CPU µs / window | CPU ms / stream-second | vs shared, same N "
        "| CPU / wall | rows / run | decision delay p50 / p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        per_window = r.cpu_us_per_window(clock_cpu_s)
        per_stream_second = (r.cpu_s - clock_cpu_s) / (r.streams * seconds) * 1000
        rows = f"{sum(r.runs) / len(r.runs):.1f}" if r.runs else ""
        delay = ""
        if r.delays_ms:
            p99 = r.delays_ms[int(len(r.delays_ms) * 0.99)]
            delay = f"{r.delays_ms[len(r.delays_ms) // 2]:.1f} / {p99:.1f}"
        ratio = shared[r.streams] / per_window
        lines.append(
            f"| {r.mode} | {r.streams} | {per_window:.1f} | {per_stream_second:.2f} "
            f"| {ratio:.2f}× | {r.cpu_s / r.wall_s:.2f} | {rows} | {delay} |"
        )
    return "\n".join(lines)


async def run(seconds: float) -> tuple[list[Result], float]:
    audio = speech_audio(seconds)
    clock_cpu_s = await clock_only(audio)
    results = []
    for mode, streams in RUNS:
        gc.collect()  # not inside a measured run
        if mode == "batched":
            results.append(await batched(streams, audio))
        else:
            results.append(await sequential(mode, streams, audio))
        print(f"{mode} {streams}: done", file=sys.stderr)
    return results, clock_cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU per VAD window, sequential vs batched")
    parser.add_argument("--seconds", type=float, default=6.0, help="audio per stream")
    parser.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args()
    preload_vad()
    started = subprocess.run(["date"], capture_output=True, text=True, check=False).stdout
    results, clock_cpu_s = asyncio.run(run(args.seconds))
    text = table(results, clock_cpu_s, args.seconds)
    summary = (
        f"{args.seconds:g} s of speech per stream; clock alone: "
        f"{clock_cpu_s / args.seconds * 1000:.1f} ms CPU per second (subtracted)."
    )
    print(f"{text}\n\n{summary}")
    if args.out:
        command = " ".join([".venv/bin/python bench/vad.py", *sys.argv[1:]])
        args.out.write_text(
            f"Run: {started.strip()}\nMachine: {machine()}\nCommand: `{command}`\n"
            f"{summary}\n\n{text}\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
