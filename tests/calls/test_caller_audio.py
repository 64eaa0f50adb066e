"""Caller audio skips pipecat's frame chain: batched STT sends, VAD events only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.calls.harness import HELLO, Env, call
from voxroute.calls import caller_audio as caller_audio_module
from voxroute.calls.caller_audio import STT_BATCH_FRAMES


async def test_caller_audio_goes_to_stt_in_batches_and_the_call_still_turns(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths: list[Any] = []
    original = caller_audio_module.CallerAudioPath.__init__

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        paths.append(self)

    monkeypatch.setattr(caller_audio_module.CallerAudioPath, "__init__", recording_init)
    result = await call(env, [HELLO])
    assert result.ok, result
    # VAD events reached the turn strategies: speech stop → turn end → transcript → reply.
    assert len(result.reply_latency_ms) >= 1
    (path,) = paths
    assert path.frames > 100
    # Sends carry STT_BATCH_FRAMES frames, except the flushes at speech stops.
    assert 0 < path.stt_sends <= path.frames / STT_BATCH_FRAMES + 5
    report = env.runtime.reports[0]
    assert report.usage.get("stt_ms", 0) > 0  # STT usage still counted
