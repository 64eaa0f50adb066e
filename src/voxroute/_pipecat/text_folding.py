"""pipecat's word-to-text matching, with its text folding computed once per string.

For every word-timestamp event a TTS sends, pipecat (1.14) finds the word in the text the
LLM wrote (`TextSegmentMap`, `WordCompletionTracker`), so that after a barge-in the
context holds only the words the caller heard. Each step asks again for the letters and
digits of the whole sentence on both sides, and of what is left of it
(`alnum_only`: markup stripped, one Unicode normalization per character), so a sentence
costs O(words × characters): 130–200 µs of the loop per spoken word, 8.4 % of a worker's
loop at 100 calls (`bench/word_tracking.py`).

`alnum_only` is a pure function of an immutable string. `memoize_text_folding` puts one
bounded LRU memo of it under every name pipecat's matching calls it by, so each distinct
string is folded once: the same answers, about a third of the CPU per word
(`bench/word_tracking.py`).
"""

from __future__ import annotations

import functools
from types import ModuleType

from pipecat.utils.context import text_segment_map, word_completion_tracker
from pipecat.utils.text import alnum_utils

__all__ = ["FOLDING_MODULES", "memoize_text_folding"]

# The modules that bind the name `alnum_only` (each imported it by name, so each holds its
# own reference); `alnum_utils` itself for its helpers (`has_alnum`).
FOLDING_MODULES: tuple[ModuleType, ...] = (alnum_utils, text_segment_map, word_completion_tracker)
# Sentences and their tails: a reply's worth is a few hundred strings.
_MEMO_SIZE = 2048


def memoize_text_folding() -> functools._lru_cache_wrapper[str]:
    """Install the memo (idempotent, once per process); returns the memoized function."""
    current = alnum_utils.alnum_only
    if isinstance(current, functools._lru_cache_wrapper):
        memo = current
    else:
        memo = functools.lru_cache(maxsize=_MEMO_SIZE)(current)
    for module in FOLDING_MODULES:
        module.alnum_only = memo  # type: ignore[attr-defined]
    return memo
