"""Helpers shared by the operator commands: settings, a database session, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.db.migrate import upgrade
from voxroute.db.session import create_engine, create_session_factory
from voxroute.settings import Settings, load_settings


def settings_from_env() -> Settings:
    return load_settings()


@asynccontextmanager
async def database(
    settings: Settings, *, scrub_plaintext_keys: bool = False
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated database for one command."""
    engine = create_engine(settings.resolved_database_url)
    try:
        await upgrade(engine, scrub_plaintext_keys=scrub_plaintext_keys)
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()
