"""Fixtures for provider tests: emulators, shared resources, stage factories, captured logs."""

from __future__ import annotations

import logging
import secrets
import warnings
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger as loguru_logger

# pipecat 1.14 defines a deprecated subclass at import time and the warning is attributed to
# typing_extensions, which pyproject's "ignore::DeprecationWarning:pipecat.*" does not cover;
# import the services once here, outside the warnings-as-errors filter of each test.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import pipecat.services.tts_service  # noqa: F401

    import voxroute.providers.factory  # noqa: F401

from voxroute.emulators import EmulatorSuite
from voxroute.providers import ProviderResources
from voxroute.routing.types import ResolvedStage, Stage
from voxroute.vault.redaction import RedactingFilter
from voxroute.vault.secret import Secret

AUDIO_DIR = Path(__file__).resolve().parents[1] / "data" / "audio"
REGION = "eastus"
# One key per provider and test, registered with the emulators; "canary" makes leaks greppable.
SECRET_FIELD = {"inworld": "bearer_token"}


def new_key(provider: str) -> str:
    """A fresh, unguessable per-call key (long enough to be registered for redaction)."""
    return f"canary-{provider}-{secrets.token_hex(12)}"


def read_pcm(name: str) -> tuple[bytes, int]:
    """Raw 16-bit mono samples and sample rate of a PCM test clip."""
    with wave.open(str(AUDIO_DIR / name)) as clip:
        return clip.readframes(clip.getnframes()), clip.getframerate()


@pytest.fixture
async def suite() -> AsyncIterator[EmulatorSuite]:
    """Every provider emulator on random loopback ports."""
    async with EmulatorSuite.start() as running:
        yield running


@pytest.fixture
async def resources() -> AsyncIterator[ProviderResources]:
    """The worker-wide shared clients, created in the test's event loop."""
    shared = await ProviderResources.create()
    yield shared
    await shared.aclose()


StageFactory = Callable[..., tuple[ResolvedStage, str]]


@pytest.fixture
def make_stage(suite: EmulatorSuite) -> StageFactory:
    """``make_stage(stage, provider, **options)`` → (stage pointed at the emulator, key_id)."""

    def factory(
        stage: Stage,
        provider: str,
        *,
        key: str | None = None,
        register: bool = True,
        model: str | None = None,
        **options: Any,
    ) -> tuple[ResolvedStage, str]:
        from voxroute.providers import load_catalog

        api_key = key or new_key(provider)
        public = {"region": REGION} if provider == "azure" else {}
        if provider == "inworld":
            public = {"workspace_id": "ws-test"}
        key_id = ""
        if register:
            key_id = suite.register_key(
                provider, api_key, **({"region": REGION} if provider == "azure" else {})
            )
        resolved = ResolvedStage(
            stage=stage,
            provider=provider,
            model=model or load_catalog().get(provider).default_model(stage),
            source="organization",
            secrets={SECRET_FIELD.get(provider, "api_key"): Secret(api_key)},
            public_fields=public,
            base_url=suite.base_urls[provider],
            options=options,
        )
        return resolved, key_id

    return factory


@pytest.fixture
def captured_logs() -> Iterator[list[str]]:
    """Every loguru (pipecat) and stdlib log line emitted during the test, at DEBUG.

    loguru lines are captured raw: pipecat itself must never log a key. stdlib lines pass
    through the vault's `RedactingFilter`, as in production, because the ``websockets``
    library logs full handshake headers (``Authorization: Token <key>``) at DEBUG.
    """
    lines: list[str] = []
    sink_id = loguru_logger.add(lambda m: lines.append(str(m)), level="DEBUG")

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = _Collect(level=logging.DEBUG)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        loguru_logger.remove(sink_id)
