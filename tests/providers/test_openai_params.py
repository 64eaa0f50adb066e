"""Plain-JSON conversations skip the OpenAI SDK's request transform and reach the server
unchanged (`voxroute.providers.openai._params`).

The server side is httpx's `MockTransport`, which records the request body the SDK
serialised, so the comparisons are between the bytes each way would put on the wire.
"""

from __future__ import annotations

import json
import typing
from typing import Any

import httpx2
import pytest
from openai import NOT_GIVEN
from openai._utils import PropertyInfo, maybe_transform
from openai.types.chat import completion_create_params
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.xai.llm import GrokLLMService
from pydantic import BaseModel

from voxroute.providers.openai._params import is_plain_json, send_plain_json_as_is
from voxroute.providers.openai.llm import SharedClientOpenAILLMService
from voxroute.providers.xai.llm import SharedClientGrokLLMService

_SSE = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)

# A conversation with every shape a call produces: text, multi-part content, a tool call
# and its result, unicode, and nulls.
CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "Hello? Café opening hours — 9 to 5?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "end_call", "arguments": "{\"message\": \"Bye\"}"}},
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "ended"},
    {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
]  # fmt: skip
END_CALL = FunctionSchema(
    name="end_call",
    description="End the phone call.",
    properties={"message": {"type": "string", "description": "A goodbye."}},
    required=[],
)


def _walk_property_infos(tp: Any, seen: set[int]) -> list[PropertyInfo]:
    """Every `PropertyInfo` reachable from a type: TypedDict fields, unions, containers."""
    if id(tp) in seen:
        return []
    seen.add(id(tp))
    found: list[PropertyInfo] = []
    if typing.get_origin(tp) is typing.Annotated:
        found += [m for m in tp.__metadata__ if isinstance(m, PropertyInfo)]
    if typing.is_typeddict(tp):
        for hint in typing.get_type_hints(tp, include_extras=True).values():
            found += _walk_property_infos(hint, seen)
    for arg in typing.get_args(tp):
        found += _walk_property_infos(arg, seen)
    return found


def test_the_chat_params_types_rename_and_reformat_nothing() -> None:
    """What makes skipping the transform safe; an SDK upgrade that adds an alias or a
    format to the chat params fails here."""
    for params_type in (
        completion_create_params.CompletionCreateParamsStreaming,
        completion_create_params.CompletionCreateParamsNonStreaming,
    ):
        infos = _walk_property_infos(params_type, set())
        changing = [i for i in infos if i.alias is not None or i.format is not None]
        assert changing == [], changing


def test_the_sdk_transform_is_the_identity_on_a_plain_conversation() -> None:
    params = {"model": "gpt-4o-mini", "messages": CONVERSATION, "stream": True}
    transformed = maybe_transform(params, completion_create_params.CompletionCreateParamsStreaming)
    assert transformed == params


def test_plain_json_is_told_apart_from_everything_else() -> None:
    assert is_plain_json(CONVERSATION)
    assert is_plain_json({"a": [1, 2.5, True, None, "x", {"b": []}]})

    class Part(BaseModel):
        text: str

    for odd in ({"a": (1, 2)}, {1: "int key"}, [Part(text="x")], {"a": NOT_GIVEN}, b"bytes"):
        assert not is_plain_json(odd), odd


def test_the_conversation_moves_to_extra_body_and_the_rest_stays() -> None:
    params = {"model": "m", "stream": True, "temperature": NOT_GIVEN, "messages": CONVERSATION}
    params["tools"] = [{"type": "function", "function": {"name": "end_call"}}]
    out = send_plain_json_as_is(params)
    assert out["extra_body"] == {"messages": CONVERSATION, "tools": params["tools"]}
    assert out["messages"] == [] and "tools" not in out
    assert out["temperature"] is NOT_GIVEN and out["model"] == "m"
    assert params["messages"] is CONVERSATION, "the caller's dict is not modified"


def test_a_conversation_that_is_not_plain_json_takes_the_sdk_transform() -> None:
    params = {"model": "m", "messages": [{"role": "user", "content": ("a", "tuple")}]}
    assert send_plain_json_as_is(params) == params
    assert send_plain_json_as_is({"model": "m", "tools": NOT_GIVEN}) == {
        "model": "m",
        "tools": NOT_GIVEN,
    }


def test_an_explicit_extra_body_wins_key_by_key() -> None:
    params = {"model": "m", "messages": CONVERSATION, "extra_body": {"messages": [], "x": 1}}
    assert send_plain_json_as_is(params)["extra_body"] == {"messages": [], "x": 1}


def _service(cls: type[OpenAILLMService], bodies: list[dict[str, Any]]) -> OpenAILLMService:
    def answer(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.content))
        return httpx2.Response(200, content=_SSE, headers={"content-type": "text/event-stream"})

    return cls(
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(answer)),  # type: ignore[call-arg]
        api_key="sk-test",
        base_url="http://llm.test/v1",
        settings=cls.Settings(model="gpt-4o-mini", system_instruction="Be brief.", temperature=0.2),
    )


class _StockParams(SharedClientOpenAILLMService):
    """The same service with pipecat's parameters as they are (the SDK transforms them)."""

    def build_chat_completion_params(self, params_from_context: Any) -> dict[str, Any]:
        params: dict[str, Any] = OpenAILLMService.build_chat_completion_params(
            self, params_from_context
        )
        return params


class _StockGrok(SharedClientGrokLLMService):
    def build_chat_completion_params(self, params_from_context: Any) -> dict[str, Any]:
        params: dict[str, Any] = GrokLLMService.build_chat_completion_params(
            self, params_from_context
        )
        return params


@pytest.mark.parametrize(
    ("ours", "stock"),
    [(SharedClientOpenAILLMService, _StockParams), (SharedClientGrokLLMService, _StockGrok)],
)
async def test_the_server_receives_the_same_body_either_way(
    ours: type[OpenAILLMService], stock: type[OpenAILLMService]
) -> None:
    sent: dict[str, list[dict[str, Any]]] = {"ours": [], "stock": []}
    context = LLMContext(messages=CONVERSATION, tools=ToolsSchema(standard_tools=[END_CALL]))  # type: ignore[arg-type]
    for name, cls in (("ours", ours), ("stock", stock)):
        service = _service(cls, sent[name])
        chunks = [c async for c in await service.get_chat_completions(context)]
        assert chunks[0].choices[0].delta.content == "ok"
    (body,), (expected,) = sent["ours"], sent["stock"]
    assert body == expected
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1:] == CONVERSATION
    assert body["tools"][0]["function"]["name"] == "end_call"
    assert body["temperature"] == 0.2


async def test_our_services_send_the_conversation_as_is() -> None:
    """Fails if the services lose the override: the conversation is in `extra_body`."""
    context = LLMContext(messages=CONVERSATION, tools=ToolsSchema(standard_tools=[END_CALL]))  # type: ignore[arg-type]
    for cls in (SharedClientOpenAILLMService, SharedClientGrokLLMService):
        service = _service(cls, [])
        adapter = service.get_llm_adapter()
        from_context = await adapter.get_llm_invocation_params(
            context, system_instruction="x", convert_developer_to_user=False
        )
        params = service.build_chat_completion_params(from_context)
        assert params["messages"] == []
        assert params["extra_body"]["messages"][1:] == CONVERSATION
        assert "tools" not in params and params["extra_body"]["tools"]
