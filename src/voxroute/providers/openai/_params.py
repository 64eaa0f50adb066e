"""Chat-completion parameters that are already plain JSON skip the OpenAI SDK's transform.

`chat.completions.create` passes its whole body through the SDK's `async_maybe_transform`,
which walks the value against the params' TypedDicts in Python, trying every member of
each union (a message is a union of six). For chat completions the walk can only rename
keys or reformat values where a type carries a `PropertyInfo` alias or format, and none
of the chat params' types does (`tests/providers/test_openai_params.py` walks the types
to keep that true across SDK upgrades), so on plain JSON it returns what it was given.
It costs about 0.8 ms of event-loop time per request with 3 messages and 10 ms with 41
(a twenty-turn call), growing with the conversation (`bench/llm_request.py`).

`extra_body` is the SDK's documented way to send JSON as-is: it is merged into the
request body after the transform, its keys winning. The conversation travels there, and
the typed argument the SDK requires is left empty.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AS_IS_KEYS", "is_plain_json", "send_plain_json_as_is"]

# The parameters that grow with the call; the rest are a few scalars, cheap to transform.
AS_IS_KEYS = ("messages", "tools")

_SCALARS = (str, int, float, bool, type(None))


def is_plain_json(value: object) -> bool:
    """Only dicts with string keys, lists and JSON scalars, all the way down."""
    if isinstance(value, _SCALARS):
        return True
    if type(value) is list:
        return all(is_plain_json(item) for item in value)
    if type(value) is dict:
        return all(type(k) is str and is_plain_json(v) for k, v in value.items())
    return False


def send_plain_json_as_is(params: dict[str, Any]) -> dict[str, Any]:
    """Move `messages` and `tools` into `extra_body` when they are plain JSON.

    Anything else (a pydantic model, a tuple, the SDK's `NOT_GIVEN`) stays where it is
    and takes the SDK's transform. An `extra_body` already in the params wins key by key,
    as the SDK would let it win over the typed arguments.
    """
    moved = {
        key: params[key]
        for key in AS_IS_KEYS
        if type(params.get(key)) is list and is_plain_json(params[key])
    }
    if not moved:
        return params
    extra_body = {**moved, **(params.get("extra_body") or {})}
    out = {**params, "extra_body": extra_body}
    if "messages" in moved:
        out["messages"] = []  # required by `create`'s signature; replaced by extra_body
    if "tools" in moved:
        del out["tools"]
    return out
