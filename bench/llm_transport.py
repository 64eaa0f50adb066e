"""CPU per LLM request by HTTP transport: httpx2's own (the OpenAI SDK's default) against
aiohttp's (the SDK's `DefaultAioHttpClient`, what voxroute's workers use).

voxroute's OpenAI LLM service streams a reply (about 20 chunks) from the OpenAI emulator,
which runs in a child process and answers over real loopback sockets. The two clients
alternate; CPU is this process's, per request, parameters to the stream's end.

    .venv/bin/python bench/llm_transport.py [--rounds 5] [--number 40] [--concurrent 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx2
import openai
from _emulator_child import run_against_emulator
from loguru import logger
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.openai.llm import OpenAILLMService

from voxroute.providers.openai.llm import SharedClientOpenAILLMService

KEY = "sk-bench-transport-0000000000"
LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


async def request_cpu(
    service: OpenAILLMService, context: LLMContext, number: int, concurrent: int
) -> float:
    async def one() -> None:
        async for _chunk in await service.get_chat_completions(context):
            pass

    start = time.process_time()
    for _ in range(number):
        await asyncio.gather(*(one() for _ in range(concurrent)))
    return (time.process_time() - start) / (number * concurrent)


async def compare(base_url: str, args: argparse.Namespace) -> None:
    logger.remove()  # pipecat logs each request at DEBUG; a server runs at WARNING
    clients: dict[str, httpx2.AsyncClient] = {
        "httpx2": httpx2.AsyncClient(limits=LIMITS),
        "aiohttp": openai.DefaultAioHttpClient(limits=LIMITS),
    }
    context = LLMContext(messages=[{"role": "user", "content": "What time do you open today?"}])
    services = {
        name: SharedClientOpenAILLMService(
            http_client=client,
            api_key=KEY,
            base_url=base_url + "/v1",
            settings=OpenAILLMService.Settings(model="gpt-4o-mini", system_instruction="Be brief."),
        )
        for name, client in clients.items()
    }
    try:
        cpu: dict[str, list[float]] = {name: [] for name in services}
        for service in services.values():  # warm: connections open, code paths imported
            await request_cpu(service, context, 2, args.concurrent)
        for _ in range(args.rounds):
            for name, service in services.items():
                cpu[name].append(await request_cpu(service, context, args.number, args.concurrent))
        httpx_us, aiohttp_us = (statistics.median(cpu[n]) * 1e6 for n in ("httpx2", "aiohttp"))
        print(
            f"CPU per request ({args.concurrent} at a time): httpx2 {httpx_us:.0f} µs, "
            f"aiohttp {aiohttp_us:.0f} µs ({1 - aiohttp_us / httpx_us:.0%} less)"
        )
    finally:
        for client in clients.values():
            await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=40, help="requests per client per round")
    parser.add_argument("--concurrent", type=int, default=1)
    args = parser.parse_args()
    run_against_emulator("openai", KEY, lambda base_url: compare(base_url, args))


if __name__ == "__main__":
    main()
