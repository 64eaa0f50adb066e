"""The ElevenLabs emulator against the official SDK and the websocket protocol.

The SDK client is synchronous, so its calls run in a thread while the emulator serves on the
test's event loop.
"""

from __future__ import annotations

import base64
import json
from asyncio import to_thread

import pytest
import websockets
from elevenlabs import ElevenLabs
from elevenlabs.core.api_error import ApiError

from voxroute.emulators import EmulatorSuite

KEY = "el-test-key-0123456789abcdef"
VOICE = "21m00Tcm4TlvDq8ikWAM"


def sdk(suite: EmulatorSuite, key: str = KEY) -> ElevenLabs:
    return ElevenLabs(api_key=key, base_url=suite.base_urls["elevenlabs"])


def ws_url(suite: EmulatorSuite, path: str) -> str:
    return suite.base_urls["elevenlabs"].replace("http://", "ws://") + path


async def test_sdk_reads_user_voices_and_models(suite: EmulatorSuite) -> None:
    key_id = suite.register_key("elevenlabs", KEY)
    client = sdk(suite)
    assert (await to_thread(client.user.get)).subscription.tier == "creator"
    assert [v.voice_id for v in (await to_thread(client.voices.get_all)).voices][0] == VOICE
    assert "eleven_flash_v2_5" in [m.model_id for m in await to_thread(client.models.list)]
    assert {r.key_id for r in suite.requests("elevenlabs")} == {key_id}


async def test_sdk_text_to_speech_returns_pcm_of_the_right_length(suite: EmulatorSuite) -> None:
    suite.register_key("elevenlabs", KEY)
    audio = await to_thread(
        lambda: b"".join(
            sdk(suite).text_to_speech.convert(
                VOICE, text="Good morning", model_id="eleven_flash_v2_5", output_format="pcm_16000"
            )
        )
    )
    assert len(audio) == round(0.06 * 12 * 16000) * 2
    timed = await to_thread(
        sdk(suite).text_to_speech.convert_with_timestamps,
        VOICE,
        text="Hi you",
        output_format="ulaw_8000",
    )
    assert timed.alignment is not None and timed.alignment.characters == list("Hi you")
    assert len(base64.b64decode(timed.audio_base_64)) == round(0.36 * 8000)


async def test_sdk_raises_api_error_401_for_an_unknown_key(suite: EmulatorSuite) -> None:
    with pytest.raises(ApiError) as caught:
        await to_thread(sdk(suite, "el-unknown").user.get)
    assert caught.value.status_code == 401
    assert caught.value.body == {
        "detail": {"status": "invalid_api_key", "message": "Invalid API key"}
    }


async def test_a_restricted_key_gets_missing_permissions_on_user_but_can_speak(
    suite: EmulatorSuite,
) -> None:
    suite.register_key("elevenlabs", KEY, restricted=True)
    with pytest.raises(ApiError) as caught:
        await to_thread(sdk(suite).user.get)
    assert caught.value.status_code == 401
    assert caught.value.body["detail"]["status"] == "missing_permissions"
    assert (await to_thread(sdk(suite).voices.get_all)).voices


async def test_mp3_output_is_refused_clearly(suite: EmulatorSuite) -> None:
    suite.register_key("elevenlabs", KEY)
    with pytest.raises(ApiError) as caught:
        await to_thread(
            lambda: b"".join(
                sdk(suite).text_to_speech.convert(VOICE, text="x", output_format="mp3_44100_128")
            )
        )
    assert caught.value.status_code == 400


async def test_multi_context_socket_sends_audio_then_is_final_per_context(
    suite: EmulatorSuite,
) -> None:
    suite.register_key("elevenlabs", KEY)
    url = ws_url(suite, f"/v1/text-to-speech/{VOICE}/multi-stream-input?output_format=pcm_8000")
    async with websockets.connect(url, additional_headers={"xi-api-key": KEY}) as ws:
        await ws.send(json.dumps({"text": " ", "context_id": "a"}))
        await ws.send(json.dumps({"text": "One two ", "context_id": "a"}))
        await ws.send(json.dumps({"context_id": "a", "flush": True}))
        await ws.send(json.dumps({"text": ""}))  # keep-alive
        await ws.send(json.dumps({"context_id": "a", "close_context": True}))
        messages = []
        while not (messages and messages[-1].get("isFinal")):
            messages.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"close_socket": True}))
        await ws.wait_closed()
    audio = b"".join(base64.b64decode(m["audio"]) for m in messages if m.get("audio"))
    assert len(audio) == round(0.06 * 7 * 8000) * 2
    assert all(m["contextId"] == m["context_id"] == "a" for m in messages)
    chars = "".join("".join(m["alignment"]["chars"]) for m in messages if m.get("audio"))
    assert chars == "One two "


async def test_single_context_socket_accepts_the_key_in_the_first_message(
    suite: EmulatorSuite,
) -> None:
    key_id = suite.register_key("elevenlabs", KEY)
    url = ws_url(suite, f"/v1/text-to-speech/{VOICE}/stream-input?output_format=pcm_16000")
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"text": " ", "xi_api_key": KEY}))
        await ws.send(json.dumps({"text": "Hello world. "}))
        await ws.send(json.dumps({"text": ""}))
        messages = [json.loads(m) async for m in ws]
    assert messages[-1] == {"isFinal": True}
    assert all(m["isFinal"] is False for m in messages[:-1])
    assert [r.key_id for r in suite.requests("elevenlabs")] == [key_id]


async def test_single_context_socket_closes_1008_on_a_bad_first_message_key(
    suite: EmulatorSuite,
) -> None:
    url = ws_url(suite, f"/v1/text-to-speech/{VOICE}/stream-input?output_format=pcm_16000")
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"text": " ", "xi_api_key": "wrong"}))
        error = json.loads(await ws.recv())
        await ws.wait_closed()
    assert error["error"] == "invalid_api_key" and ws.close_code == 1008


async def test_multi_context_upgrade_with_a_bad_key_is_refused_401(suite: EmulatorSuite) -> None:
    url = ws_url(suite, f"/v1/text-to-speech/{VOICE}/multi-stream-input?output_format=pcm_8000")
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(url, additional_headers={"xi-api-key": "wrong"}):
            pass
    assert caught.value.response.status_code == 401
