"""Control endpoints, request log and every fault kind, over HTTP and websockets."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import websockets

from voxroute.emulators import EmulatorSuite, key_id_for

KEY = "sk-canary-5f3c9e1a7b2d4c6e8f0a"


async def control(
    http: aiohttp.ClientSession, base: str, method: str, path: str, body: object = None
) -> tuple[int, dict[str, object]]:
    async with http.request(method, base + "/_emulator/" + path, json=body) as response:
        return response.status, await response.json()


async def test_key_registration_is_idempotent_and_returns_a_fingerprint_id(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    base = suite.base_urls["openai"]
    first = await control(http, base, "POST", "keys", {"api_key": KEY})
    second = await control(http, base, "POST", "keys", {"api_key": KEY})
    assert first == second == (200, {"key_id": key_id_for(KEY)})
    assert key_id_for(KEY).startswith("k_") and len(key_id_for(KEY)) == 10


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"api_key": ""},
        {"api_key": 5},
        {"api_key": "k", "fault": {"status": 418}},
        {"api_key": "k", "fault": {"first_byte_delay_ms": "slow"}},
        {"api_key": "k", "colour": "red"},
    ],
)
async def test_bad_control_input_gets_400(
    suite: EmulatorSuite, http: aiohttp.ClientSession, body: object
) -> None:
    status, _ = await control(http, suite.base_urls["openai"], "POST", "keys", body)
    assert status == 400


async def test_azure_and_twilio_keys_need_their_extra_fields(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    assert (await control(http, suite.base_urls["azure"], "POST", "keys", {"api_key": "a"}))[
        0
    ] == 400
    status, _ = await control(
        http, suite.base_urls["azure"], "POST", "keys", {"api_key": "a", "region": "eastus"}
    )
    assert status == 200
    assert (await control(http, suite.base_urls["twilio"], "POST", "keys", {"api_key": "t"}))[
        0
    ] == 400


async def test_request_log_lists_and_clears_and_never_holds_the_key(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    for provider in suite.base_urls:
        if provider not in ("azure", "twilio"):
            suite.register_key(provider, KEY)
    headers = {"Authorization": f"Bearer {KEY}", "xi-api-key": KEY, "X-API-Key": KEY}
    probes = {
        "openai": "/v1/models",
        "xai": "/v1/api-key",
        "elevenlabs": "/v1/user",
        "cartesia": "/voices",
        "resend": "/domains",
        "resemble": "/api/v2/voices",
        "deepgram": f"/v1/projects?token={KEY}",
    }
    for provider, path in probes.items():
        async with http.get(suite.base_urls[provider] + path, headers=headers) as response:
            assert response.status == 200, provider
            assert KEY not in await response.text()
        status, log = await control(http, suite.base_urls[provider], "GET", "requests")
        assert KEY not in json.dumps(log)
        [entry] = log["requests"]  # type: ignore[misc]
        assert set(entry) == {"method", "path", "time", "key_id", "status"}
        assert entry["key_id"] == key_id_for(KEY) and entry["status"] == 200
        assert abs(entry["time"] - time.time()) < 60
    await control(http, suite.base_urls["openai"], "DELETE", "requests")
    assert suite.requests("openai") == []


@pytest.mark.parametrize("status", [401, 403, 429, 500, 503])
async def test_on_demand_status_faults_hit_the_next_requests_only(
    suite: EmulatorSuite, http: aiohttp.ClientSession, status: int
) -> None:
    suite.register_key("resend", KEY)
    base = suite.base_urls["resend"]
    assert (await control(http, base, "POST", "faults", {"fault": {"status": status}, "count": 2}))[
        0
    ] == 200
    seen = []
    for _ in range(3):
        async with http.get(base + "/domains", headers={"Authorization": f"Bearer {KEY}"}) as r:
            seen.append((r.status, (await r.json()).get("statusCode")))
    assert seen == [(status, status), (status, status), (200, None)]


async def test_first_byte_delay_and_base_latency_delay_the_answer(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    suite.register_key("openai", KEY, fault={"first_byte_delay_ms": 300})
    suite.emulator("openai").latency_ms = 100
    started = time.perf_counter()
    async with http.get(
        suite.base_urls["openai"] + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}
    ) as response:
        assert response.status == 200
    assert time.perf_counter() - started >= 0.4


async def test_disconnect_fault_drops_a_websocket_mid_stream(suite: EmulatorSuite) -> None:
    suite.register_key("deepgram", KEY)
    suite.set_fault("deepgram", {"disconnect": True})
    url = (
        suite.base_urls["deepgram"].replace("http", "ws")
        + "/v1/speak?encoding=linear16&sample_rate=8000"
    )
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {KEY}"}) as ws:
        await ws.recv()  # Metadata
        await ws.send(json.dumps({"type": "Speak", "text": "A fairly long sentence to speak."}))
        await ws.send(json.dumps({"type": "Flush"}))
        received = 0
        with pytest.raises(websockets.ConnectionClosedError):
            while True:
                await asyncio.wait_for(ws.recv(), 2)
                received += 1
    assert received == 2
    assert ws.close_code is None or ws.close_code == 1006


async def test_disconnect_fault_truncates_a_plain_json_answer(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    suite.register_key("elevenlabs", KEY, fault={"disconnect": True})
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.get(
            suite.base_urls["elevenlabs"] + "/v1/voices", headers={"xi-api-key": KEY}
        ) as response:
            await response.read()


async def test_script_endpoint_sets_and_validates_phrases(
    suite: EmulatorSuite, http: aiohttp.ClientSession
) -> None:
    base = suite.base_urls["deepgram"]
    assert (await control(http, base, "POST", "script", {"phrases": ["a", "b"]})) == (
        200,
        {"phrases": ["a", "b"]},
    )
    assert suite.emulator("deepgram").script == ["a", "b"]
    assert (await control(http, base, "POST", "script", {"phrases": []}))[0] == 400
