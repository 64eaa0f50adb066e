"""The suite runner and the ``voxroute emulators`` entry point."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from voxroute.emulators import PROVIDERS, EmulatorSuite, key_id_for, run_forever


async def test_suite_serves_every_provider_on_its_own_kernel_picked_port() -> None:
    async with EmulatorSuite.start() as suite:
        assert list(suite.base_urls) == [
            "deepgram",
            "openai",
            "xai",
            "elevenlabs",
            "cartesia",
            "azure",
            "inworld",
            "resemble",
            "resend",
            "twilio",
        ]
        ports = [int(url.rsplit(":", 1)[1]) for url in suite.base_urls.values()]
        assert len(set(ports)) == len(PROVIDERS) and 0 not in ports
        # Each reported URL is the emulator's own listening socket, not a guess.
        async with aiohttp.ClientSession() as http:
            for provider, url in suite.base_urls.items():
                async with http.get(url + "/_emulator/requests") as response:
                    assert response.status == 200, provider
                    assert (await response.json())["requests"] == []
        with pytest.raises(KeyError, match="unknown provider"):
            suite.register_key("acme", "k")


async def test_run_forever_prints_the_url_map_and_loads_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(
        json.dumps(
            {
                "openai": ["sk-file-key-01234"],
                "azure": [{"api_key": "az-file-key", "region": "eastus"}],
            }
        )
    )
    task = asyncio.create_task(run_forever(keys_file=keys))
    try:
        for _ in range(100):
            line = capsys.readouterr().out
            if line:
                break
            await asyncio.sleep(0.02)
        urls = json.loads(line)
        assert set(urls) == set(PROVIDERS) and line.endswith("\n") and line.count("\n") == 1
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                urls["openai"] + "/v1/models",
                headers={"Authorization": "Bearer sk-file-key-01234"},
            ) as response,
        ):
            assert response.status == 200
            async with http.get(urls["openai"] + "/_emulator/requests") as log:
                [entry] = (await log.json())["requests"]
        assert entry["key_id"] == key_id_for("sk-file-key-01234")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
