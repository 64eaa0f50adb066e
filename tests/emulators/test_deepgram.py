"""The Deepgram emulator against SDK v7 and the raw wire."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import websockets
from deepgram import AsyncDeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.environment import DeepgramClientEnvironment
from deepgram.listen.v1.types import ListenV1Results

from voxroute.emulators import EmulatorSuite

from .conftest import read_clip

KEY = "dg-test-key-0123456789abcdef"


def sdk(suite: EmulatorSuite, key: str = KEY) -> AsyncDeepgramClient:
    base = suite.base_urls["deepgram"]
    ws = base.replace("http://", "ws://")
    environment = DeepgramClientEnvironment(base=base, production=ws, agent=ws, agent_rest=base)
    return AsyncDeepgramClient(api_key=key, environment=environment)


async def stream_clip(socket: Any, data: bytes, chunk: int, silence: int) -> None:
    for start in range(0, len(data), chunk):
        await socket.send_media(data[start : start + chunk])
    for _ in range(silence):
        await socket.send_media(b"\x00" * chunk)


async def test_sdk_live_listen_gets_a_final_transcript(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("deepgram", KEY)
    clip = read_clip("utterance-01.pcm16k.wav")
    results: list[ListenV1Results] = []
    async with sdk(suite).listen.v1.connect(
        model="nova-3",
        encoding="linear16",
        sample_rate="16000",
        interim_results="true",
        vad_events="true",
        utterance_end_ms="1000",
    ) as socket:
        await stream_clip(socket, clip.data, 640, silence=60)  # 1.2 s of trailing silence
        await socket.send_close_stream()
        async for message in socket:
            if isinstance(message, ListenV1Results):
                results.append(message)
    finals = [r for r in results if r.is_final]
    assert [r.channel.alternatives[0].transcript for r in finals] == [
        "Hello, I would like to book a table for two people tonight."
    ]
    assert finals[0].speech_final is True
    assert any(not r.is_final for r in results), "interim results were requested"
    words = finals[0].channel.alternatives[0].words
    assert words[0].word == "hello" and words[0].punctuated_word == "Hello,"
    assert 0 <= finals[0].start < 0.1 and 3.3 < finals[0].duration <= 3.9  # speech + endpoint
    [record] = suite.requests("deepgram")
    assert (record.path, record.key_id, record.status) == ("/v1/listen", key_id, 101)


async def test_raw_listen_sends_speech_started_utterance_end_and_metadata(
    suite: EmulatorSuite,
) -> None:
    suite.register_key("deepgram", KEY)
    suite.set_script(["first phrase", "second phrase"])
    clip = read_clip("utterance-02.ulaw8k.wav")
    url = suite.base_urls["deepgram"].replace("http", "ws") + (
        "/v1/listen?encoding=mulaw&sample_rate=8000&vad_events=true&interim_results=true"
        "&utterance_end_ms=1000&endpointing=500"  # the clip ends 360 ms after speech
    )
    silence = b"\xff" * 8000  # 1 s of μ-law silence
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {KEY}"}) as ws:
        await ws.send(clip.data + silence + silence + clip.data)
        await ws.send(json.dumps({"type": "KeepAlive"}))
        await ws.send(json.dumps({"type": "Finalize"}))
        await ws.send(json.dumps({"type": "CloseStream"}))
        messages = [json.loads(m) async for m in ws]
        assert ws.close_code == 1000
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "SpeechStarted"
    finals = [m for m in messages if m["type"] == "Results" and m["is_final"]]
    assert [m["channel"]["alternatives"][0]["transcript"] for m in finals] == [
        "first phrase",
        "second phrase",
    ]
    assert finals[1]["from_finalize"] is True
    assert "UtteranceEnd" in kinds and kinds[-1] == "Metadata"
    assert messages[-1]["duration"] == pytest.approx(2 * len(clip.data) / 8000 + 2, abs=0.02)


async def test_finalize_without_speech_answers_an_empty_final(suite: EmulatorSuite) -> None:
    suite.register_key("deepgram", KEY)
    url = (
        suite.base_urls["deepgram"].replace("http", "ws")
        + "/v1/listen?encoding=linear16&sample_rate=8000"
    )
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {KEY}"}) as ws:
        await ws.send(b"\x00" * 1600)
        await ws.send(json.dumps({"type": "Finalize"}))
        reply = json.loads(await ws.recv())
    assert (
        reply["from_finalize"] is True and reply["channel"]["alternatives"][0]["transcript"] == ""
    )


async def test_sdk_raises_api_error_401_for_an_unknown_key(suite: EmulatorSuite) -> None:
    with pytest.raises(ApiError) as caught:
        async with sdk(suite, "not-a-registered-key").listen.v1.connect(model="nova-3"):
            pass
    assert caught.value.status_code == 401
    [record] = suite.requests("deepgram")
    assert record.key_id is None and record.status == 401


async def test_upgrade_refusal_carries_the_invalid_auth_body(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    async with http.get(
        suite.base_urls["deepgram"] + "/v1/projects", headers={"Authorization": "Token nope"}
    ) as response:
        assert response.status == 401
        assert (await response.json())["err_code"] == "INVALID_AUTH"


async def test_bad_listen_parameters_are_refused_with_400(suite: EmulatorSuite) -> None:
    suite.register_key("deepgram", KEY)
    url = suite.base_urls["deepgram"].replace("http", "ws") + "/v1/listen?encoding=linear16"
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(url, additional_headers={"Authorization": f"Token {KEY}"}):
            pass
    assert caught.value.response.status_code == 400


async def test_speak_rest_returns_raw_audio_of_the_requested_format(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    suite.register_key("deepgram", KEY)
    url = suite.base_urls["deepgram"] + "/v1/speak?encoding=mulaw&sample_rate=8000&container=none"
    async with http.post(
        url, json={"text": "Hi there"}, headers={"Authorization": f"Token {KEY}"}
    ) as response:
        audio = await response.read()
    assert response.status == 200
    assert len(audio) == round(0.06 * 8 * 8000)  # 1 byte per μ-law sample


async def test_speak_websocket_flushes_clears_and_closes(suite: EmulatorSuite) -> None:
    suite.register_key("deepgram", KEY)
    url = (
        suite.base_urls["deepgram"].replace("http", "ws")
        + "/v1/speak?encoding=linear16&sample_rate=16000"
    )
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {KEY}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "Metadata"
        await ws.send(json.dumps({"type": "Speak", "text": "Hello"}))
        await ws.send(json.dumps({"type": "Flush"}))
        audio = b""
        while isinstance(message := await ws.recv(), bytes):
            audio += message
        assert json.loads(message) == {"type": "Flushed", "sequence_id": 0}
        assert len(audio) == round(0.3 * 16000) * 2
        await ws.send(json.dumps({"type": "Speak", "text": "never spoken"}))
        await ws.send(json.dumps({"type": "Clear"}))
        assert json.loads(await ws.recv()) == {"type": "Cleared", "sequence_id": 1}
        await ws.send(json.dumps({"type": "Close"}))
        await asyncio.wait_for(ws.wait_closed(), 2)
