"""Fixtures for whole calls: provider emulators and a served FakeRuntime."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.calls.harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    ORG_KEYS,
    Env,
    Factory,
    default_stages,
    running_server,
    seed,
)
from voxroute.emulators import EmulatorSuite


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """Whole calls run on the embedded default only (the webhook tests cover PostgreSQL)."""
    return sqlite_url


@pytest.fixture
async def suite() -> AsyncIterator[EmulatorSuite]:
    async with EmulatorSuite.start() as started:
        for provider, key in ORG_KEYS.items():
            started.register_key(provider, key)
        started.register_key("twilio", AUTH_TOKEN, account_sid=ACCOUNT_SID)
        yield started


@pytest.fixture
async def env(session_factory: Factory, suite: EmulatorSuite) -> AsyncIterator[Env]:
    await seed(session_factory, max_duration_s=60, idle_timeout_s=20)
    async with running_server(session_factory, twilio_api_base_url=suite.base_urls["twilio"]) as (
        base,
        runtime,
    ):
        runtime.stages = default_stages(suite)
        yield Env(base, runtime, suite, session_factory)
