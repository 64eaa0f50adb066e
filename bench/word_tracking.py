"""CPU per spoken word of pipecat's word-to-text matching, stock against memoized folding.

Each round registers two sentences (made unique per round, as replies are) with pipecat's
`AggregatedFrameSequencer`, as a word-timestamp TTS does, then feeds it every word as a
word-timestamp event. Stock and memoized (`voxroute._pipecat.text_folding`) rounds alternate;
the median of the rounds is printed, with a check that both made the same frames.

    .venv/bin/python bench/word_tracking.py [--rounds 5] [--replies 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from pipecat.frames.frames import AggregatedTextFrame, TextFrame
from pipecat.utils.context.aggregated_frame_sequencer import AggregatedFrameSequencer
from pipecat.utils.text import alnum_utils
from pipecat.utils.text.base_text_aggregator import TextType

from voxroute._pipecat.text_folding import FOLDING_MODULES, memoize_text_folding

SENTENCES = (
    "Thanks for calling, we open at nine in the morning and close at six in the evening.",
    "Is there anything else I can help you with today, like booking a table for dinner?",
)


async def _replies(count: int) -> tuple[float, list[str]]:
    """Seconds of CPU per word, and the words' frames' texts."""
    words, texts = 0, []
    started = time.process_time()
    for reply in range(count):
        sequencer = AggregatedFrameSequencer()
        spoken = [f"{sentence} Reference {reply}-{i}." for i, sentence in enumerate(SENTENCES)]
        for text in spoken:
            await sequencer.register_spoken(
                AggregatedTextFrame(text, TextType.SENTENCE), "ctx", text, append_to_context=True
            )
        pts = 0
        for text in spoken:
            for word in text.split():
                pts += 100
                frames = sequencer.process_word(word, pts, "ctx")
                texts += [f.text for f in frames if isinstance(f, TextFrame)]
                words += 1
    return (time.process_time() - started) / words, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--replies", type=int, default=200)
    args = parser.parse_args()
    stock_function = alnum_utils.alnum_only
    stock: list[float] = []
    memo: list[float] = []
    for _ in range(args.rounds):
        for module in FOLDING_MODULES:
            module.alnum_only = stock_function  # type: ignore[attr-defined]
        per_word, stock_texts = asyncio.run(_replies(args.replies))
        stock.append(per_word)
        memoize_text_folding().cache_clear()
        per_word, memo_texts = asyncio.run(_replies(args.replies))
        memo.append(per_word)
        if memo_texts != stock_texts:
            raise SystemExit("the memoized matching made different frames")
    a, b = statistics.median(stock) * 1e6, statistics.median(memo) * 1e6
    print(f"stock {a:.1f} µs/word, memoized {b:.1f} µs/word ({a / b:.1f}×), same frames")


if __name__ == "__main__":
    main()
