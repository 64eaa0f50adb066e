"""`make_async_openai`: streamed chunks are validated by pydantic, not loosely constructed.

The server side is httpx's `MockTransport` answering with the bytes of a real chat
completions event stream, so the SDK parses exactly what it would read off a socket.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from voxroute.providers.openai._client import make_async_openai

CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1764633600,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}],
}


def _client_answering(*chunks: dict[str, Any]) -> openai.AsyncOpenAI:
    body = b"".join(f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks)
    body += b"data: [DONE]\n\n"

    def answer(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/chat/completions"
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    return make_async_openai(api_key="sk-test", base_url="http://llm.test/v1", http_client=http)


async def _stream(client: openai.AsyncOpenAI) -> list[ChatCompletionChunk]:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    return [chunk async for chunk in stream]


async def test_well_formed_chunks_come_back_as_typed_models() -> None:
    chunks = await _stream(_client_answering(CHUNK, {**CHUNK, "choices": []}))
    assert [type(c) for c in chunks] == [ChatCompletionChunk, ChatCompletionChunk]
    assert chunks[0].choices[0].delta.content == "Hello"
    assert chunks[1].choices == []


async def test_a_chunk_that_breaks_the_schema_is_an_error_not_a_half_built_model() -> None:
    """Loose construction (the SDK's default) would hand pipecat a chunk whose `choices`
    is a string; strict validation makes it a failed request."""
    broken = {**CHUNK, "choices": "not a list"}
    with pytest.raises(openai.APIResponseValidationError):
        await _stream(_client_answering(broken))
