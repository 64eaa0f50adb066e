"""Event-loop CPU per LLM request, by conversation length: the OpenAI SDK's request
transform on every message (stock pipecat) against voxroute's as-is plain JSON.

Both arms are voxroute's OpenAI LLM service on one httpx client whose transport answers
in-process with the same short event stream, so the difference is the request's own
work: pipecat's parameters, the SDK's transform and serialisation, the stream's parsing.
Each request is `get_chat_completions` on an `LLMContext` of N messages plus the
end-call tool, then reading the stream to its end; the arms alternate, and the bodies
they send are checked to be the same JSON.

    .venv/bin/python bench/llm_request.py [--lengths 3,9,41] [--rounds 5] [--number 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import httpx2
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.openai.llm import OpenAILLMService

from voxroute.providers.openai.llm import SharedClientOpenAILLMService

_CHUNK = {
    "id": "chatcmpl-bench",
    "object": "chat.completion.chunk",
    "created": 1764633600,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "delta": {"content": "Sure."}, "finish_reason": "stop"}],
}
_STREAM = f"data: {json.dumps(_CHUNK)}\n\ndata: [DONE]\n\n".encode()
_TOOL = FunctionSchema(
    name="end_call",
    description="End the phone call. Call this when the caller says goodbye.",
    properties={"message": {"type": "string", "description": "A short goodbye to say first."}},
    required=[],
)


class StockParams(SharedClientOpenAILLMService):
    """The same service with pipecat's parameters as they are: the SDK transforms them."""

    def build_chat_completion_params(self, params_from_context: Any) -> dict[str, Any]:
        params: dict[str, Any] = OpenAILLMService.build_chat_completion_params(
            self, params_from_context
        )
        return params


def conversation(length: int) -> list[dict[str, Any]]:
    turns = [
        {"role": "user", "content": "I would like to know the opening hours of the shop, please."},
        {"role": "assistant", "content": 'You said: "the opening hours". How else can I help?'},
    ]
    return [{"role": "user", "content": "Hello?"}] + [turns[i % 2] for i in range(length - 1)]


async def request_cpu(service: OpenAILLMService, context: LLMContext, number: int) -> float:
    """Mean CPU seconds (this process, so the loop's thread) per request."""
    start = time.process_time()
    for _ in range(number):
        stream = await service.get_chat_completions(context)
        async for _chunk in stream:
            pass
    return (time.process_time() - start) / number


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="3,9,41", help="messages in the conversation")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=100, help="requests per arm per round")
    args = parser.parse_args()
    logger.remove()  # pipecat logs each request's context at DEBUG; a server runs at WARNING

    bodies: dict[str, list[Any]] = {"stock": [], "as-is": []}

    def answer(arm: str) -> Any:
        def handler(request: httpx2.Request) -> httpx2.Response:
            bodies[arm].append(json.loads(request.content))
            return httpx2.Response(
                200, content=_STREAM, headers={"content-type": "text/event-stream"}
            )

        return handler

    services: dict[str, OpenAILLMService] = {}
    for arm, cls in (("stock", StockParams), ("as-is", SharedClientOpenAILLMService)):
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(answer(arm)))
        services[arm] = cls(
            http_client=http,
            api_key="sk-bench",
            base_url="http://llm.bench/v1",
            settings=OpenAILLMService.Settings(
                model="gpt-4o-mini", system_instruction="You are a helpful phone assistant."
            ),
        )

    print(f"{'messages':>8}  {'stock µs':>10}  {'as-is µs':>10}  ratio")
    for length in (int(n) for n in args.lengths.split(",")):
        context = LLMContext(messages=conversation(length), tools=ToolsSchema([_TOOL]))  # type: ignore[arg-type]
        cpu: dict[str, list[float]] = {arm: [] for arm in services}
        for _ in range(args.rounds):
            for arm, service in services.items():
                cpu[arm].append(await request_cpu(service, context, args.number))
        assert bodies["stock"][-1] == bodies["as-is"][-1], "the two arms must send the same body"
        stock, as_is = (statistics.median(cpu[arm]) * 1e6 for arm in ("stock", "as-is"))
        print(f"{length:>8}  {stock:>10.0f}  {as_is:>10.0f}  {stock / as_is:5.1f}×")


if __name__ == "__main__":
    asyncio.run(main())
