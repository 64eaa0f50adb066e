"""CPU per frame per processor hop in a pipecat pipeline: queued (pipecat's default: an
input queue and task, then a process queue and task) against direct mode (the frame is
processed in the pusher's task), the way `TwilioOutput` now takes the TTS's audio.

Frames are pushed either one at a time with a short sleep between them, as TTS audio
arrives (every hop then wakes its tasks), or in a burst (the queues batch them). The
modes alternate; CPU is the process's, over the frames pushed.

    .venv/bin/python bench/frame_hop.py [--frames 3000] [--hops 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from loguru import logger
from pipecat.frames.frames import EndFrame, Frame, TextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner


class PassThrough(FrameProcessor):
    def __init__(self, *, direct: bool) -> None:
        super().__init__(enable_direct_mode=direct)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


async def cpu_per_hop(*, direct: bool, spaced: bool, frames: int, hops: int) -> float:
    worker = PipelineWorker(
        Pipeline([PassThrough(direct=direct) for _ in range(hops)]),
        params=PipelineParams(),
        enable_rtvi=False,
        idle_timeout_secs=None,
        enable_turn_tracking=False,
        check_dangling_tasks=False,
    )

    async def feed() -> float:
        await asyncio.sleep(0.3)  # the pipeline has started
        start = time.process_time()
        for _ in range(frames):
            await worker.queue_frame(TextFrame(text="x"))
            if spaced:
                await asyncio.sleep(0.0005)
        await worker.queue_frame(EndFrame())
        return start

    feeder = asyncio.create_task(feed())
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
    return (time.process_time() - await feeder) / frames / hops * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--hops", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logger.remove()
    for spaced in (True, False):
        cpu: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for direct in (False, True):
                cpu[direct].append(
                    await cpu_per_hop(
                        direct=direct, spaced=spaced, frames=args.frames, hops=args.hops
                    )
                )
        queued, direct_ = (statistics.median(cpu[d]) for d in (False, True))
        label = "one at a time (0.5 ms apart)" if spaced else "in a burst"
        print(
            f"{label:30} queued {queued:6.1f} µs  direct {direct_:6.1f} µs  "
            f"saved {queued - direct_:5.1f} µs per frame per hop"
        )


if __name__ == "__main__":
    asyncio.run(main())
