"""The OpenAI emulator against the official SDK and the wire format."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest

from voxroute.emulators import EmulatorSuite, key_id_for
from voxroute.emulators._chat import count_tokens

KEY = "sk-test-openai-0123456789abcdef"
END_CALL_TOOL = {
    "type": "function",
    "function": {"name": "end_call", "description": "Hang up", "parameters": {"type": "object"}},
}


_clients: list[openai.AsyncOpenAI] = []


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    """Close SDK clients on the test's loop (their finalizers would run after it closed)."""
    yield
    while _clients:
        await _clients.pop().close()


def client(suite: EmulatorSuite, key: str = KEY) -> openai.AsyncOpenAI:
    made = openai.AsyncOpenAI(
        api_key=key, base_url=suite.base_urls["openai"] + "/v1", max_retries=0
    )
    _clients.append(made)
    return made


async def test_streamed_chat_echoes_the_user_and_reports_true_usage(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("openai", KEY)
    messages = [
        {"role": "system", "content": "You are a phone agent."},
        {"role": "user", "content": "Book a table for two"},
    ]
    stream = await client(suite).chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, finish = "", None, None
    async for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == 'You said: "Book a table for two". How else can I help?'
    assert finish == "stop"
    assert usage is not None
    expected_prompt = sum(1 + count_tokens(m["content"]) for m in messages)
    assert usage.prompt_tokens == expected_prompt
    assert usage.completion_tokens == count_tokens(text)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    [record] = suite.requests("openai")
    assert (record.method, record.path, record.key_id, record.status) == (
        "POST",
        "/v1/chat/completions",
        key_id,
        200,
    )
    assert key_id == key_id_for(KEY)


async def test_goodbye_with_an_end_call_tool_streams_a_tool_call(suite: EmulatorSuite) -> None:
    suite.register_key("openai", KEY)
    stream = await client(suite).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Thanks, GOODBYE!"}],
        tools=[END_CALL_TOOL],
        stream=True,
    )
    calls, finish = [], None
    async for chunk in stream:
        for choice in chunk.choices:
            calls.extend(choice.delta.tool_calls or [])
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert calls[0].function.name == "end_call" and calls[0].id
    assert "".join(c.function.arguments or "" for c in calls) == "{}"
    assert all(len(chunk_calls) == 1 for chunk_calls in [[c] for c in calls])


async def test_a_tool_result_gets_a_closing_sentence(suite: EmulatorSuite) -> None:
    suite.register_key("openai", KEY)
    reply = await client(suite).chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "user", "content": "goodbye"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "end_call", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
        ],
        tools=[END_CALL_TOOL],
    )
    assert reply.choices[0].finish_reason == "stop"
    assert "goodbye" in (reply.choices[0].message.content or "").lower()
    assert reply.usage is not None and reply.usage.completion_tokens > 0


async def test_an_unknown_key_raises_authentication_error(suite: EmulatorSuite) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        await client(suite, "sk-unknown-0000000000").models.list()
    assert caught.value.code == "invalid_api_key"
    [record] = suite.requests("openai")
    assert record.key_id is None and record.status == 401


async def test_models_list_is_the_key_check(suite: EmulatorSuite) -> None:
    suite.register_key("openai", KEY)
    models = await client(suite).models.list()
    assert "gpt-4o-mini" in [m.id for m in models.data]


async def test_speech_is_raw_24khz_pcm_proportional_to_the_input(suite: EmulatorSuite) -> None:
    suite.register_key("openai", KEY)
    audio = b""
    async with client(suite).audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input="Hello there", response_format="pcm"
    ) as response:
        async for chunk in response.iter_bytes():
            audio += chunk
    assert len(audio) == round(0.060 * len("Hello there") * 24000) * 2


async def test_injected_500_is_not_retried_by_the_sdk(suite: EmulatorSuite) -> None:
    suite.register_key("openai", KEY)
    suite.set_fault("openai", {"status": 500}, count=1)
    retrying = openai.AsyncOpenAI(api_key=KEY, base_url=suite.base_urls["openai"] + "/v1")
    _clients.append(retrying)
    with pytest.raises(openai.InternalServerError):
        await retrying.models.list()
    assert [r.status for r in suite.requests("openai")] == [500]
    await retrying.models.list()  # the fault was for one request only


async def test_a_per_key_429_fault_raises_rate_limit_error(suite: EmulatorSuite) -> None:
    suite.register_key("openai", KEY, fault={"status": 429})
    with pytest.raises(openai.RateLimitError):
        await client(suite).models.list()


async def test_malformed_json_gets_a_400_not_a_crash(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    suite.register_key("openai", KEY)
    url = suite.base_urls["openai"] + "/v1/chat/completions"
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    for body in (b"{not json", b"[1, 2]", json.dumps({"model": "m", "messages": "hi"}).encode()):
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["error"]["type"] == "invalid_request_error"


async def test_a_mid_stream_disconnect_breaks_the_sdk_stream(suite: EmulatorSuite) -> None:
    suite.register_key("openai", KEY, fault={"disconnect": True})
    stream = await client(suite).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hello there friend"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass
