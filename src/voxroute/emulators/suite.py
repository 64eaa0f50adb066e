"""Run every provider emulator in-process, one aiohttp server (HTTP + websockets) each."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from ._base import Emulator
from ._core import Fault, RequestRecord
from .azure import AzureEmulator
from .cartesia import CartesiaEmulator
from .deepgram import DeepgramEmulator
from .elevenlabs import ElevenLabsEmulator
from .inworld import InworldEmulator
from .openai import OpenAIEmulator
from .resemble import ResembleEmulator
from .resend import ResendEmulator
from .twilio import TwilioEmulator
from .xai import XAIEmulator

__all__ = ["PROVIDERS", "EmulatorSuite", "run_forever", "serve_emulators"]

# Provider id → emulator class; each serves on its own port, picked by the kernel.
PROVIDERS: dict[str, type[Emulator]] = {
    "deepgram": DeepgramEmulator,
    "openai": OpenAIEmulator,
    "xai": XAIEmulator,
    "elevenlabs": ElevenLabsEmulator,
    "cartesia": CartesiaEmulator,
    "azure": AzureEmulator,
    "inworld": InworldEmulator,
    "resemble": ResembleEmulator,
    "resend": ResendEmulator,
    "twilio": TwilioEmulator,
}


class EmulatorSuite:
    """All emulators of one process, with their base URLs and control helpers."""

    def __init__(self, emulators: Mapping[str, Emulator], base_urls: Mapping[str, str]) -> None:
        self.emulators: dict[str, Emulator] = dict(emulators)
        self.base_urls: dict[str, str] = dict(base_urls)

    @classmethod
    @asynccontextmanager
    async def start(
        cls, *, host: str = "127.0.0.1", latency_ms: int = 0
    ) -> AsyncIterator[EmulatorSuite]:
        """Serve every emulator on ``host``, each on a port bound as 0 and read back.

        Never a fixed or consecutive block: picking ports before binding them races with
        every other process on the machine.
        """
        runners: list[web.AppRunner] = []
        emulators: dict[str, Emulator] = {}
        base_urls: dict[str, str] = {}
        try:
            for provider, emulator_cls in PROVIDERS.items():
                emulator = emulator_cls(latency_ms=latency_ms)
                runner = web.AppRunner(emulator.build_app(), access_log=None, shutdown_timeout=1.0)
                await runner.setup()
                runners.append(runner)
                site = web.TCPSite(runner, host, 0)
                await site.start()
                bound_port = runner.addresses[0][1]
                emulators[provider] = emulator
                base_urls[provider] = f"http://{_url_host(host)}:{bound_port}"
            yield cls(emulators, base_urls)
        finally:
            for runner in reversed(runners):
                await runner.cleanup()

    def emulator(self, provider: str) -> Emulator:
        """The emulator serving ``provider``; KeyError names the known ids."""
        try:
            return self.emulators[provider]
        except KeyError:
            raise KeyError(
                f"unknown provider {provider!r}; known: {sorted(self.emulators)}"
            ) from None

    def register_key(self, provider: str, api_key: str, **extra: Any) -> str:
        """Register a key (``fault=`` a Fault or dict; provider extras like ``region``)."""
        fault = extra.pop("fault", None)
        if fault is not None and not isinstance(fault, Fault):
            fault = Fault.parse(fault)
        return self.emulator(provider).register_key(api_key, fault=fault, **extra)

    def requests(self, provider: str) -> list[RequestRecord]:
        """Requests served by ``provider`` so far, oldest first."""
        return self.emulator(provider).log.snapshot()

    def clear_requests(self, provider: str | None = None) -> None:
        """Clear one provider's request log, or all of them."""
        for name, emulator in self.emulators.items():
            if provider is None or name == provider:
                emulator.log.clear()

    def set_fault(self, provider: str, fault: Fault | Mapping[str, Any], count: int = 1) -> None:
        """Give the next ``count`` requests to ``provider`` this fault, whatever their key."""
        parsed = fault if isinstance(fault, Fault) else Fault.parse(fault)
        self.emulator(provider).faults.push(parsed, count)

    def set_script(self, phrases: list[str], provider: str = "deepgram") -> None:
        """Set the phrases an STT emulator transcribes, one per utterance, cycling."""
        self.emulator(provider).script = list(phrases)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def load_keys_file(suite: EmulatorSuite, path: Path) -> None:
    """Register keys from JSON ``{"provider": ["key", {"api_key": …, "region": …}, …]}``."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of provider → list of keys")
    for provider, entries in data.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            if isinstance(entry, str):
                suite.register_key(provider, entry)
            elif isinstance(entry, dict) and isinstance(entry.get("api_key"), str):
                fields = dict(entry)
                suite.register_key(provider, fields.pop("api_key"), **fields)
            else:
                raise ValueError(f"{path}: bad key entry for {provider!r}")


async def run_forever(
    host: str = "127.0.0.1",
    keys_file: Path | None = None,
    latency_ms: int = 0,
) -> None:
    """Serve the suite, print ``{"provider": base_url}`` on one line, run until cancelled."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or not Unix
            pass
    try:
        async with EmulatorSuite.start(host=host, latency_ms=latency_ms) as suite:
            if keys_file is not None:
                load_keys_file(suite, keys_file)
            sys.stdout.write(json.dumps(suite.base_urls) + "\n")
            sys.stdout.flush()
            await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def serve_emulators(
    host: str = "127.0.0.1",
    keys_file: Path | str | None = None,
    latency_ms: int = 0,
) -> None:
    """Blocking entry point for ``voxroute emulators``; returns on SIGTERM/SIGINT."""
    path = Path(keys_file) if keys_file is not None else None
    # uvloop when available: the emulators share the load core with the load generator,
    # and every audio message crosses the event loop.
    try:
        import uvloop
    except ImportError:
        asyncio.run(run_forever(host, path, latency_ms))
    else:
        uvloop.run(run_forever(host, path, latency_ms))
