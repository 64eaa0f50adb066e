"""The Cartesia emulator's websocket and REST wire format."""

from __future__ import annotations

import base64
import json

import aiohttp
import pytest
import websockets

from voxroute.emulators import EmulatorSuite

KEY = "sk_car_test_0123456789"
FORMAT = {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 16000}


def request(context: str, transcript: str, **extra: object) -> str:
    return json.dumps(
        {
            "context_id": context,
            "model_id": "sonic-3",
            "transcript": transcript,
            "voice": {"mode": "id", "id": "v"},
            "output_format": FORMAT,
            **extra,
        }
    )


async def test_websocket_streams_chunks_timestamps_flush_done_and_done(
    suite: EmulatorSuite,
) -> None:
    suite.register_key("cartesia", KEY)
    url = suite.base_urls["cartesia"].replace("http", "ws") + f"/tts/websocket?api_key={KEY}"
    async with websockets.connect(url) as ws:
        await ws.send(request("c1", "Hello world", **{"continue": True, "add_timestamps": True}))
        await ws.send(request("c1", "", **{"continue": False, "flush": True}))
        messages = []
        while not messages or messages[-1]["type"] != "done":
            messages.append(json.loads(await ws.recv()))
    kinds = [m["type"] for m in messages]
    assert kinds[-3:] == ["timestamps", "flush_done", "done"] and set(kinds[:-3]) == {"chunk"}
    audio = b"".join(base64.b64decode(m["data"]) for m in messages if m["type"] == "chunk")
    assert len(audio) == round(0.06 * 11 * 16000) * 2
    assert messages[-3]["word_timestamps"]["words"] == ["Hello", "world"]
    [record] = suite.requests("cartesia")
    assert record.path == "/tts/websocket" and "api_key" not in record.path


async def test_websocket_upgrade_with_a_bad_key_is_refused_401(suite: EmulatorSuite) -> None:
    url = suite.base_urls["cartesia"].replace("http", "ws") + "/tts/websocket"
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(url, additional_headers={"X-API-Key": "bad"}):
            pass
    assert caught.value.response.status_code == 401


async def test_bad_output_format_is_an_error_message_not_a_crash(suite: EmulatorSuite) -> None:
    suite.register_key("cartesia", KEY)
    url = suite.base_urls["cartesia"].replace("http", "ws") + "/tts/websocket"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        await ws.send("not json")
        assert json.loads(await ws.recv())["type"] == "error"
        await ws.send(
            json.dumps(
                {
                    "context_id": "c",
                    "model_id": "m",
                    "transcript": "x",
                    "output_format": {"encoding": "mp3"},
                }
            )
        )
        assert json.loads(await ws.recv())["status_code"] == 400


async def test_tts_bytes_status_and_voices(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    suite.register_key("cartesia", KEY)
    base = suite.base_urls["cartesia"]
    async with http.get(base + "/") as status:
        assert (await status.json())["ok"] is True
    async with http.post(
        base + "/tts/bytes",
        headers={"X-API-Key": KEY},
        json={
            "model_id": "sonic-3",
            "transcript": "Hi",
            "voice": {"mode": "id", "id": "v"},
            "output_format": FORMAT,
        },
    ) as response:
        assert len(await response.read()) == round(0.2 * 16000) * 2  # 200 ms minimum
    async with http.get(base + "/voices", headers={"X-API-Key": KEY}) as voices:
        assert (await voices.json())["data"]
