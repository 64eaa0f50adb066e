r"""Deterministic chat completions shared by the OpenAI and xAI emulators.

Tokenizer (used for ``usage``): a token is a run of word characters or a single other
non-space character (``re.findall(r"\w+|[^\w\s]", text)``). Prompt tokens are the tokens of
every message's text (string content, text parts, tool-call names and arguments) plus one
per message for its role; completion tokens are the tokens of the reply text, or of the
tool name plus its arguments for a tool call.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ._core import BadInput

__all__ = ["ChatRequest", "ChatReply", "count_tokens", "plan_reply"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
END_CALL_TOOL = "end_call"
CLOSING_SENTENCE = "Thank you for calling. Goodbye!"


def count_tokens(text: str) -> int:
    """Tokens of ``text`` under the emulator's documented tokenizer."""
    return len(_TOKEN.findall(text))


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a chat completion request the emulator acts on."""

    model: str
    messages: list[dict[str, Any]]
    tool_names: list[str]
    stream: bool
    include_usage: bool

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ChatRequest:
        """Validate like the API does: model and a non-empty list of role-tagged messages."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadInput("you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadInput("'messages' must be a non-empty array")
        for message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise BadInput("each message must be an object with a string 'role'")
        tools = body.get("tools") or []
        if not isinstance(tools, list):
            raise BadInput("'tools' must be an array")
        names = [
            t["function"]["name"]
            for t in tools
            if isinstance(t, dict)
            and isinstance(t.get("function"), dict)
            and isinstance(t["function"].get("name"), str)
        ]
        stream = body.get("stream", False)
        options = body.get("stream_options") or {}
        if not isinstance(stream, bool) or not isinstance(options, dict):
            raise BadInput("'stream' must be a boolean and 'stream_options' an object")
        return cls(model, messages, names, stream, bool(options.get("include_usage")))

    def prompt_tokens(self) -> int:
        """Documented prompt token count."""
        total = 0
        for message in self.messages:
            total += 1 + count_tokens(_text_of(message.get("content")))
            for call in message.get("tool_calls") or []:
                function = call.get("function", {}) if isinstance(call, dict) else {}
                total += count_tokens(str(function.get("name", "")))
                total += count_tokens(str(function.get("arguments", "")))
        return total


@dataclass(frozen=True)
class ChatReply:
    """Either reply text or one tool call, plus its token counts."""

    text: str | None
    tool_name: str | None
    prompt_tokens: int
    completion_tokens: int
    id: str
    created: int

    @property
    def finish_reason(self) -> str:
        """``tool_calls`` for a tool call, else ``stop``."""
        return "tool_calls" if self.tool_name else "stop"

    @property
    def tool_call_id(self) -> str:
        """Stable id of the tool call, derived from the completion id."""
        return "call_" + self.id.removeprefix("chatcmpl-")[:24]

    def usage(self) -> dict[str, Any]:
        """The ``usage`` object, with the detail blocks the SDK expects."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def text_pieces(self) -> list[str]:
        """Content deltas: one word (with its trailing space) per chunk."""
        return re.findall(r"\S+\s*", self.text or "")


def plan_reply(request: ChatRequest) -> ChatReply:
    """Decide the reply: end_call on "goodbye", a closing line after a tool result, else echo."""
    last = request.messages[-1]
    last_user = next((m for m in reversed(request.messages) if m.get("role") == "user"), None)
    user_text = _text_of(last_user.get("content")).strip() if last_user else ""
    text: str | None
    tool: str | None = None
    if last.get("role") == "tool":
        text = CLOSING_SENTENCE
    elif (
        last.get("role") == "user"
        and END_CALL_TOOL in request.tool_names
        and "goodbye" in user_text.lower()
    ):
        text, tool = None, END_CALL_TOOL
    elif user_text:
        text = f'You said: "{user_text}". How else can I help?'
    else:
        text = "Hello! How can I help you today?"
    completion = count_tokens(tool + "{}") if tool else count_tokens(text or "")
    return ChatReply(
        text=text,
        tool_name=tool,
        prompt_tokens=request.prompt_tokens(),
        completion_tokens=completion,
        id="chatcmpl-" + uuid.uuid4().hex,
        created=int(time.time()),
    )


def chunk(reply: ChatReply, model: str, delta: dict[str, Any], finish: str | None) -> str:
    """One SSE event carrying a ``chat.completion.chunk``."""
    body = {
        "id": reply.id,
        "object": "chat.completion.chunk",
        "created": reply.created,
        "model": model,
        "system_fingerprint": "fp_emulator",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }
    return f"data: {json.dumps(body)}\n\n"


def stream_events(reply: ChatReply, request: ChatRequest) -> list[str]:
    """Every SSE event of a streamed completion, ``[DONE]`` included."""
    model = request.model
    events: list[str] = []
    if reply.tool_name:
        call = {
            "index": 0,
            "id": reply.tool_call_id,
            "type": "function",
            "function": {"name": reply.tool_name, "arguments": ""},
        }
        events.append(
            chunk(reply, model, {"role": "assistant", "content": None, "tool_calls": [call]}, None)
        )
        args = {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}
        events.append(chunk(reply, model, args, None))
    else:
        events.append(
            chunk(reply, model, {"role": "assistant", "content": "", "refusal": None}, None)
        )
        events.extend(
            chunk(reply, model, {"content": piece}, None) for piece in reply.text_pieces()
        )
    events.append(chunk(reply, model, {}, reply.finish_reason))
    if request.include_usage:
        body = {
            "id": reply.id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": model,
            "system_fingerprint": "fp_emulator",
            "choices": [],
            "usage": reply.usage(),
        }
        events.append(f"data: {json.dumps(body)}\n\n")
    events.append("data: [DONE]\n\n")
    return events


def completion(reply: ChatReply, request: ChatRequest) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_name:
        message["tool_calls"] = [
            {
                "id": reply.tool_call_id,
                "type": "function",
                "function": {"name": reply.tool_name, "arguments": "{}"},
            }
        ]
    return {
        "id": reply.id,
        "object": "chat.completion",
        "created": reply.created,
        "model": request.model,
        "system_fingerprint": "fp_emulator",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}
        ],
        "usage": reply.usage(),
    }
