"""Caller audio takes the fused path (receive → STT → user aggregator) once the STT runs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.calls.harness import HELLO, Env, call
from voxroute.calls import pipeline as pipeline_module


async def test_caller_audio_is_fused_and_the_call_still_turns(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths: list[Any] = []
    original = pipeline_module._CallerAudioPath.__init__

    def recording_init(self: Any, *args: Any) -> None:
        original(self, *args)
        paths.append(self)

    monkeypatch.setattr(pipeline_module._CallerAudioPath, "__init__", recording_init)
    result = await call(env, [HELLO])
    assert result.ok, result
    assert len(result.reply_latency_ms) >= 1  # VAD → turn end → transcript → reply
    (path,) = paths
    assert path.fused_frames > 0
    assert path._in_flight == 0  # every frame sent pipecat's way reached the aggregator
    report = env.runtime.reports[0]
    assert report.usage.get("stt_seconds", 0) > 0  # STT usage still counted on the fused path
