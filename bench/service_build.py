"""Per-call construction cost of a full STT + LLM + TTS set, with and without shared resources.

    .venv/bin/python bench/service_build.py [--builds 200] [--tts cartesia]

"stock" constructs the pipecat services the way their docs show (each makes its own HTTP
client, i.e. a new SSL context with the CA bundle loaded); "voxroute" goes through
`voxroute.providers.build_*` with one `ProviderResources` for the whole run. Nothing is
started or connected: this is the synchronous work that blocks the event loop when a call
is set up. Endpoints point at 127.0.0.1 and keys are dummies; no network is used.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from loguru import logger

logger.remove()
logger.add(sys.stderr, level="WARNING")
warnings.simplefilter("ignore", DeprecationWarning)

from pipecat.services.cartesia.tts import CartesiaTTSService  # noqa: E402
from pipecat.services.deepgram.stt import DeepgramSTTService  # noqa: E402
from pipecat.services.elevenlabs.tts import ElevenLabsTTSService  # noqa: E402
from pipecat.services.openai.llm import OpenAILLMService  # noqa: E402

from voxroute.providers import ProviderResources, build_llm, build_stt, build_tts  # noqa: E402
from voxroute.routing.types import ResolvedStage, Stage  # noqa: E402
from voxroute.vault.secret import Secret  # noqa: E402

BASE = "http://127.0.0.1:9"
RATE = 8000


def stage(kind: Stage, provider: str, model: str) -> ResolvedStage:
    return ResolvedStage(
        stage=kind,
        provider=provider,
        model=model,
        source="organization",
        secrets={"api_key": Secret(f"bench-{provider}-key-0123456789")},
        base_url=BASE,
    )


def stock_set(tts: str) -> list[Any]:
    key = "bench-key-0123456789"
    tts_service: Any
    if tts == "cartesia":
        tts_service = CartesiaTTSService(
            api_key=key,
            url="ws://127.0.0.1:9/tts/websocket",
            sample_rate=RATE,
            settings=CartesiaTTSService.Settings(voice="a0e99841-438c-4a64-b679-ae501e7d6091"),
        )
    else:
        tts_service = ElevenLabsTTSService(
            api_key=key,
            url="ws://127.0.0.1:9",
            sample_rate=RATE,
            settings=ElevenLabsTTSService.Settings(voice="21m00Tcm4TlvDq8ikWAM"),
        )
    return [
        DeepgramSTTService(api_key=key, base_url=BASE, sample_rate=RATE),
        OpenAILLMService(
            api_key=key,
            base_url=f"{BASE}/v1",
            settings=OpenAILLMService.Settings(model="gpt-4o-mini"),
        ),
        tts_service,
    ]


def voxroute_set(resources: ProviderResources, tts: str) -> list[Any]:
    tts_model = "sonic-3" if tts == "cartesia" else "eleven_flash_v2_5"
    return [
        build_stt(
            stage("stt", "deepgram", "nova-3-general"), sample_rate=RATE, resources=resources
        ),
        build_llm(stage("llm", "openai", "gpt-4o-mini"), resources=resources),
        build_tts(stage("tts", tts, tts_model), sample_rate=RATE, resources=resources),
    ]


def measure(build: Callable[[], list[Any]], builds: int) -> list[float]:
    build()  # warm caches and lazy imports
    samples = []
    for _ in range(builds):
        start = time.perf_counter()
        build()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"{name:<34} n={len(samples):<4} median {statistics.median(samples):7.2f} ms   "
        f"p99 {p99:7.2f} ms   max {ordered[-1]:7.2f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=200)
    parser.add_argument("--tts", choices=["cartesia", "elevenlabs"], default="cartesia")
    args = parser.parse_args()
    resources = await ProviderResources.create()
    try:
        label = f"deepgram+openai+{args.tts}"
        stock = measure(lambda: stock_set(args.tts), args.builds)
        shared = measure(lambda: voxroute_set(resources, args.tts), args.builds)
    finally:
        await resources.aclose()
    print(f"python {sys.version.split()[0]}, {args.builds} builds of {label} at {RATE} Hz")
    print(summary("stock pipecat (own HTTP clients)", stock))
    print(summary("voxroute (shared resources)", shared))
    print(f"median saving per call: {statistics.median(stock) - statistics.median(shared):.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
