"""CPU per second of caller audio sent to the STT, by send size (100 ms against 200 ms).

voxroute's Deepgram STT service (built as a call builds it) streams the same telephony audio
(8 kHz, 16-bit: a recorded utterance, then silence, repeated) to the Deepgram emulator,
which runs in a child process and answers over real loopback sockets, in sends of 100 ms or
200 ms of audio. Each send is one hop into the service and one `process_audio_frame` (usage,
the SDK's `send_media`, a masked websocket frame), as from the call's caller-audio path.
The sizes alternate; CPU is this process's, the median of the rounds.

    .venv/bin/python bench/stt_batch.py [--rounds 5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import statistics
import time
import wave
from pathlib import Path

from _emulator_child import run_against_emulator
from loguru import logger
from pipecat.frames.frames import InputAudioRawFrame
from pipecat.pipeline.worker import PipelineParams
from pipecat.tests.utils import SleepFrame, run_test

from voxroute.providers import ProviderResources, build_stt, load_catalog
from voxroute.routing.types import ResolvedStage
from voxroute.vault.secret import Secret

KEY = "bench-stt-batch-000000000000"
RATE = 8000
CLIP = (
    Path(__file__).resolve().parent.parent / "tests" / "data" / "audio" / "utterance-01.pcm16k.wav"
)


def telephony_audio(seconds: float) -> bytes:
    """The clip at 8 kHz (every other sample) then a second of silence, repeated."""
    with wave.open(str(CLIP)) as clip:
        pcm = clip.readframes(clip.getnframes())
    pcm8 = b"".join(pcm[i : i + 2] for i in range(0, len(pcm), 4)) + b"\0" * (2 * RATE)
    needed = int(seconds * RATE) * 2
    return (pcm8 * (needed // len(pcm8) + 1))[:needed]


async def cpu_per_audio_second(stage: ResolvedStage, audio: bytes, send_ms: int) -> float:
    size = RATE * 2 * send_ms // 1000
    frames = [
        InputAudioRawFrame(audio=audio[i : i + size], sample_rate=RATE, num_channels=1)
        for i in range(0, len(audio), size)
    ]
    async with await ProviderResources.create() as resources:
        service = build_stt(stage, sample_rate=RATE, resources=resources)
        started = time.process_time()
        await run_test(
            service,
            frames_to_send=[*frames, SleepFrame(0.5)],
            pipeline_params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        )
        return (time.process_time() - started) / (len(audio) / 2 / RATE)


async def compare(base_url: str, args: argparse.Namespace) -> None:
    logger.remove()  # pipecat logs every connection at DEBUG; a server runs at WARNING
    stage = ResolvedStage(
        stage="stt",
        provider="deepgram",
        model=load_catalog().get("deepgram").default_model("stt"),
        source="organization",
        secrets={"api_key": Secret(KEY)},
        public_fields={},
        base_url=base_url,
        options={},
    )
    audio = telephony_audio(args.seconds)
    cpu: dict[int, list[float]] = {100: [], 200: []}
    await cpu_per_audio_second(stage, audio[: RATE * 2], 100)  # warm: imports, first connect
    for _ in range(args.rounds):
        for send_ms in cpu:
            cpu[send_ms].append(await cpu_per_audio_second(stage, audio, send_ms))
    a, b = (statistics.median(cpu[ms]) * 1e3 for ms in (100, 200))
    print(
        f"CPU per second of caller audio: 100 ms sends {a:.2f} ms, 200 ms sends {b:.2f} ms "
        f"({1 - b / a:.0%} less; {(a - b) / 5 * 1e3:.0f} µs per send saved)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per run")
    args = parser.parse_args()
    run_against_emulator("deepgram", KEY, lambda base_url: compare(base_url, args))


if __name__ == "__main__":
    main()
