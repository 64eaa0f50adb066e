"""xAI, Inworld, Resemble and Resend wire behaviour."""

from __future__ import annotations

import base64
import json

import aiohttp
import openai
import pytest
import websockets

from voxroute.emulators import EmulatorSuite

KEY = "small-provider-key-0123456789"


async def test_xai_bad_key_is_a_400_bad_request_error(suite: EmulatorSuite) -> None:
    client = openai.AsyncOpenAI(
        api_key="xai-unknown-key", base_url=suite.base_urls["xai"] + "/v1", max_retries=0
    )
    with pytest.raises(openai.BadRequestError) as caught:
        await client.models.list()
    assert caught.value.status_code == 400
    assert "Incorrect API key provided" in str(caught.value.body)
    suite.register_key("xai", KEY)
    good = openai.AsyncOpenAI(api_key=KEY, base_url=suite.base_urls["xai"] + "/v1")
    reply = await good.chat.completions.create(
        model="grok-4", messages=[{"role": "user", "content": "hey"}]
    )
    assert reply.choices[0].message.content == 'You said: "hey". How else can I help?'


async def test_inworld_http_stream_returns_ndjson_with_wav_headed_linear16(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    suite.register_key("inworld", KEY)
    async with http.post(
        suite.base_urls["inworld"] + "/tts/v1/voice:stream",
        headers={"Authorization": f"Basic {KEY}"},
        json={
            "text": "Hello there",
            "voiceId": "Ashley",
            "modelId": "inworld-tts-1",
            "audioConfig": {"audioEncoding": "LINEAR16", "sampleRateHertz": 16000},
        },
    ) as r:
        lines = [json.loads(line) async for line in r.content if line.strip()]
    chunks = [base64.b64decode(line["result"]["audioContent"]) for line in lines]
    assert all(c.startswith(b"RIFF") for c in chunks)
    assert sum(len(c) - 44 for c in chunks) == round(0.06 * 11 * 16000) * 2


async def test_inworld_bad_key_is_401(suite: EmulatorSuite, http: aiohttp.ClientSession) -> None:
    async with http.get(
        suite.base_urls["inworld"] + "/tts/v1/voices", headers={"Authorization": "Basic nope"}
    ) as r:
        assert r.status == 401 and (await r.json())["code"] == 16


async def test_resemble_rejects_a_non_numeric_request_id(suite: EmulatorSuite) -> None:
    suite.register_key("resemble", KEY)
    url = suite.base_urls["resemble"].replace("http", "ws") + "/stream"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
        await ws.send(json.dumps({"voice_uuid": "v", "data": "hi", "request_id": "one"}))
        error = json.loads(await ws.recv())
        await ws.send(
            json.dumps(
                {
                    "voice_uuid": "v",
                    "data": "hi",
                    "request_id": 7,
                    "precision": "MULAW",
                    "sample_rate": 8000,
                }
            )
        )
        audio, end = b"", None
        while end is None:
            message = json.loads(await ws.recv())
            if message["type"] == "audio":
                audio += base64.b64decode(message["audio_content"])
            else:
                end = message
    assert error["type"] == "error" and error["status_code"] == 400
    assert end == {"type": "audio_end", "request_id": 7}
    assert len(audio) == 44 + round(0.2 * 8000)  # WAV header (no_audio_header not set)


async def test_resend_sends_and_distinguishes_key_kinds(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    base = suite.base_urls["resend"]
    suite.register_key("resend", KEY, restricted=True)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with http.post(
        base + "/emails",
        headers=headers,
        json={"from": "a@example.com", "to": ["b@example.com"], "subject": "Hi", "text": "x"},
    ) as r:
        assert r.status == 200 and (await r.json())["id"]
    async with http.get(base + "/domains", headers=headers) as r:
        assert r.status == 401 and (await r.json())["name"] == "restricted_api_key"
    async with http.get(base + "/domains", headers={"Authorization": "Bearer re_bad"}) as r:
        assert r.status == 403 and (await r.json())["name"] == "invalid_api_key"
    async with http.get(base + "/domains") as r:
        assert r.status == 401 and (await r.json())["name"] == "missing_api_key"
    async with http.post(base + "/emails", headers=headers, json={"from": "a@example.com"}) as r:
        assert r.status == 422
