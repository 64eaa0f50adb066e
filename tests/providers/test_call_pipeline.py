"""A recorded caller utterance becomes a transcript, an LLM reply and speech (STT → LLM → TTS).

All three services are built by the factory with per-call keys and run against the
emulators, in a pipeline shaped like a call's: user context aggregator with Silero VAD and
a speech-timeout turn stop, then LLM, TTS and the assistant aggregator.
"""

from __future__ import annotations

import asyncio

import pytest
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.tests.utils import SleepFrame, run_test
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from voxroute.emulators import EmulatorSuite
from voxroute.providers import ProviderResources, build_llm, build_stt, build_tts

from .conftest import StageFactory, read_pcm


class _Recorder(BaseObserver):
    """Keeps each transcription and LLM text frame once, wherever it was pushed.

    Both are consumed inside the pipeline (by the user aggregator and by the TTS), so the
    test sink never sees them.
    """

    def __init__(self, seen: list[Frame]) -> None:
        super().__init__()
        self._seen = seen
        self._ids: set[int] = set()

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if isinstance(frame, TranscriptionFrame | LLMTextFrame) and frame.id not in self._ids:
            self._ids.add(frame.id)
            self._seen.append(frame)


UTTERANCE = "Hello, I would like to book a table for two people tonight."


@pytest.mark.parametrize(("llm", "tts"), [("openai", "cartesia"), ("xai", "elevenlabs")])
async def test_an_utterance_becomes_a_transcript_a_reply_and_audio(
    suite: EmulatorSuite,
    resources: ProviderResources,
    make_stage: StageFactory,
    llm: str,
    tts: str,
) -> None:
    stt_stage, stt_key = make_stage("stt", "deepgram")
    llm_stage, llm_key = make_stage("llm", llm)
    tts_stage, tts_key = make_stage("tts", tts)
    pcm, rate = read_pcm("utterance-01.pcm16k.wav")
    chunk = rate // 50 * 2  # 20 ms
    frames = [
        InputAudioRawFrame(audio=pcm[i : i + chunk], sample_rate=rate, num_channels=1)
        for i in range(0, len(pcm), chunk)
    ]
    frames += [InputAudioRawFrame(audio=b"\0" * chunk, sample_rate=rate, num_channels=1)] * 75

    context = LLMContext()
    aggregators = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=SileroVADAnalyzer(),
            user_turn_strategies=UserTurnStrategies(
                stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.2)]
            ),
        ),
    )
    pipeline = Pipeline(
        [
            build_stt(stt_stage, sample_rate=rate, resources=resources),
            aggregators.user(),
            build_llm(llm_stage, resources=resources),
            build_tts(tts_stage, sample_rate=rate, resources=resources),
            aggregators.assistant(),
        ]
    )
    seen: list[Frame] = []
    down, up = await asyncio.wait_for(
        run_test(
            pipeline,
            frames_to_send=[*frames, SleepFrame(2.5)],
            observers=[_Recorder(seen)],
        ),
        30,
    )

    assert not [f for f in [*down, *up] if isinstance(f, ErrorFrame)]
    # The user aggregator consumes the TranscriptionFrame; the observer saw it go by.
    transcripts = [f.text for f in seen if isinstance(f, TranscriptionFrame)]
    reply = "".join(f.text for f in seen if isinstance(f, LLMTextFrame))
    audio = b"".join(f.audio for f in down if isinstance(f, TTSAudioRawFrame))
    assert transcripts == [UTTERANCE]
    assert UTTERANCE in reply
    assert len(audio) > rate  # more than half a second of 16-bit speech
    messages = context.get_messages()
    assert messages[0] == {"role": "user", "content": UTTERANCE}
    assert messages[-1]["role"] == "assistant"
    assert {r.key_id for r in suite.requests("deepgram")} == {stt_key}
    assert {r.key_id for r in suite.requests(llm)} == {llm_key}
    assert {r.key_id for r in suite.requests(tts)} == {tts_key}
