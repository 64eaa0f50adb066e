"""CPU per streamed chat-completion chunk: the OpenAI SDK's loose construction (its default)
against pydantic validation (`_strict_response_validation`, what voxroute's clients use).

Every LLM token of every turn arrives as one `ChatCompletionChunk`; the SDK turns its JSON
into the model with one of these two functions (`BaseClient._process_response_data`).
Both run here, alternating, on the same chunks the emulators send (a text delta, the
role-only first chunk and the usage-only last one).

    .venv/bin/python bench/llm_chunks.py [--rounds 5] [--number 2000]
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from collections.abc import Callable
from typing import Any

from openai._models import construct_type, validate_type
from openai.types.chat import ChatCompletionChunk

BASE: dict[str, Any] = {
    "id": "chatcmpl-emulator",
    "object": "chat.completion.chunk",
    "created": 1764633600,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_emulator",
}
CHUNKS: list[dict[str, Any]] = [
    {**BASE, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {**BASE, "choices": [{"index": 0, "delta": {"content": " open"}, "finish_reason": None}]},
    {
        **BASE,
        "choices": [],
        "usage": {"prompt_tokens": 412, "completion_tokens": 12, "total_tokens": 424},
    },
]


def loose() -> None:
    for chunk in CHUNKS:
        construct_type(type_=ChatCompletionChunk, value=chunk)


def strict() -> None:
    for chunk in CHUNKS:
        validate_type(type_=ChatCompletionChunk, value=chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=2000, help="passes over the chunks")
    args = parser.parse_args()
    assert all(
        construct_type(type_=ChatCompletionChunk, value=c)
        == validate_type(type_=ChatCompletionChunk, value=c)
        for c in CHUNKS
    ), "the two paths must build equal models"
    ways: dict[str, Callable[[], None]] = {"loose (SDK default)": loose, "strict": strict}
    per_chunk: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            seconds = timeit.timeit(way, number=args.number)
            per_chunk[name].append(seconds / (args.number * len(CHUNKS)) * 1e6)
    medians = {name: statistics.median(values) for name, values in per_chunk.items()}
    for name, median in medians.items():
        print(f"{name:20} {median:8.1f} µs per chunk (median of {args.rounds} rounds)")
    print(f"ratio loose/strict: {medians['loose (SDK default)'] / medians['strict']:.1f}×")


if __name__ == "__main__":
    main()
