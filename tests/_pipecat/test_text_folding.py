"""The memoized text folding gives pipecat's word matching the same answers, cheaper."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Iterator

import pipecat.services.tts_service  # noqa: F401 - loads every module of the word path
import pytest
from pipecat.frames.frames import AggregatedTextFrame, Frame, TextFrame
from pipecat.utils.context.aggregated_frame_sequencer import AggregatedFrameSequencer
from pipecat.utils.text import alnum_utils
from pipecat.utils.text.base_text_aggregator import TextType

from voxroute._pipecat.text_folding import FOLDING_MODULES, memoize_text_folding

# The function itself, whether or not the runtime has installed the memo already.
ORIGINAL = getattr(alnum_utils.alnum_only, "__wrapped__", alnum_utils.alnum_only)
SAMPLES = [
    "",
    "Thanks for calling!",
    "We open at 9:30, café and crème brûlée included.",
    '<break time="1s"/>Hello <phoneme ph="x">Siobhan</phoneme>',
    "It costs $42.50 (forty-two fifty).",
    "東京で会いましょう 안녕하세요",
    "Ⅷ ² ½ 🙂 — “quoted” ’n’",
    "ÀÉÎÕÜ ñ ç ß",
]
# (what the LLM wrote, what the TTS was given): the second is a rewritten segment.
SEGMENTS = [
    ("Thanks for calling, we open at nine.", "Thanks for calling, we open at nine."),
    ("It costs $42.50 today.", "It costs forty two dollars fifty today."),
    ("Café crème at the <b>bar</b>, see you soon!", "Café crème at the bar, see you soon!"),
]


@pytest.fixture
def restore_folding() -> Iterator[None]:
    before = {module: module.alnum_only for module in FOLDING_MODULES}
    yield
    for module, function in before.items():
        module.alnum_only = function  # type: ignore[attr-defined]


def _binders() -> set[str]:
    """Every loaded pipecat module holding a name `alnum_only`."""
    return {
        name
        for name, module in list(sys.modules.items())
        if name.startswith("pipecat.") and module is not None and hasattr(module, "alnum_only")
    }


def test_every_module_of_pipecats_word_path_that_binds_the_name_is_covered() -> None:
    # An upgrade that imports `alnum_only` somewhere new fails here, not silently slower.
    assert _binders() == {module.__name__ for module in FOLDING_MODULES}


@pytest.mark.usefixtures("restore_folding")
def test_the_memo_answers_as_the_original_and_is_installed_once() -> None:
    memo = memoize_text_folding()
    assert memoize_text_folding() is memo
    assert isinstance(memo, functools._lru_cache_wrapper)
    assert memo.__wrapped__ is ORIGINAL
    assert all(module.alnum_only is memo for module in FOLDING_MODULES)
    for text in SAMPLES:
        assert memo(text) == ORIGINAL(text)
        assert alnum_utils.has_alnum(text) == bool(ORIGINAL(text))


def _spoken_words() -> list[tuple[str, int | None, str]]:
    """Every frame the sequencer makes for SEGMENTS' words: (type, pts, text)."""

    async def run() -> list[tuple[str, int | None, str]]:
        sequencer = AggregatedFrameSequencer()
        for original, tts in SEGMENTS:
            await sequencer.register_spoken(
                AggregatedTextFrame(original, TextType.SENTENCE), "ctx", tts, append_to_context=True
            )
        made: list[Frame] = []
        pts = 0
        for _, tts in SEGMENTS:
            for word in tts.split():
                pts += 100
                made += sequencer.process_word(word, pts, "ctx")
        made += sequencer.flush(pts)
        return [(type(f).__name__, f.pts, f.text if isinstance(f, TextFrame) else "") for f in made]

    return asyncio.run(run())


@pytest.mark.usefixtures("restore_folding")
def test_the_sequencer_makes_the_same_word_frames_with_the_memo_and_uses_it() -> None:
    stock = _spoken_words()
    assert [text for kind, _, text in stock if kind == "TTSTextFrame"]  # words were matched
    memo = memoize_text_folding()
    memo.cache_clear()
    assert _spoken_words() == stock
    assert memo.cache_info().hits > 0  # the matching really goes through the memo
