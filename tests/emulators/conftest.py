"""Fixtures for the emulator tests: a running suite and the recorded test clips."""

from __future__ import annotations

import struct
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from voxroute.emulators import EmulatorSuite

# pipecat.services.tts_service subclasses a deprecated class at import time; the warning is
# attributed to <frozen abc>, which pyproject's "ignore::DeprecationWarning:pipecat.*" filter
# does not match, so import it once here with that one warning silenced.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message=".*AudioContextTTSService.*", category=DeprecationWarning
    )
    import pipecat.services.tts_service  # noqa: F401

AUDIO_DIR = Path(__file__).resolve().parents[1] / "data" / "audio"


@dataclass(frozen=True)
class Clip:
    """A WAV clip: format code (1 PCM, 7 μ-law), sample rate and raw sample bytes."""

    fmt: int
    sample_rate: int
    data: bytes


def read_clip(name: str) -> Clip:
    """Read a RIFF/WAVE file by hand (the stdlib ``wave`` module refuses μ-law)."""
    raw = (AUDIO_DIR / name).read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    pos, fmt, rate, data = 12, 0, 0, b""
    while pos + 8 <= len(raw):
        chunk_id, size = struct.unpack_from("<4sI", raw, pos)
        body = raw[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt, _channels, rate = struct.unpack_from("<HHI", body)
        elif chunk_id == b"data":
            data = body
        pos += 8 + size + size % 2
    return Clip(fmt=fmt, sample_rate=rate, data=data)


@pytest.fixture
async def suite() -> AsyncIterator[EmulatorSuite]:
    """Every emulator on random loopback ports, torn down after the test."""
    async with EmulatorSuite.start() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client for raw wire checks."""
    async with aiohttp.ClientSession() as session:
        yield session
