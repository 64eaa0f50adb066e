"""Shared fixtures: a clean environment and a migrated database on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from voxroute.db.base import Base
from voxroute.db.migrate import upgrade
from voxroute.db.session import create_engine, create_session_factory
from voxroute.settings import FORBIDDEN_PROVIDER_ENV

PG_ADMIN_DSN = os.environ.get("VOXROUTE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see provider SDK keys or the developer's own VOXROUTE_* settings."""
    for name in list(os.environ):
        if name.startswith("VOXROUTE_") and name != "VOXROUTE_TEST_PG_DSN":
            monkeypatch.delenv(name)
    for name in FORBIDDEN_PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)


async def _create_pg_database() -> tuple[str, str]:
    name = f"vxr_test_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    asyncio.run(_migrate(url))
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name, url = asyncio.run(_create_pg_database())
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(_drop_pg_database(name))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test runs on the embedded default (SQLite) and on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


async def _truncate(engine: AsyncEngine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    yield engine
    await _truncate(engine)
    await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


from tests.utils.api import api, api_settings  # noqa: E402,F401  (the `api` fixture, shared by API and routing tests)


@pytest.fixture
def refused_url() -> Iterator[str]:
    """An http URL whose connections are refused: its port is bound but never listened on.

    The socket stays bound for the whole test, so no other process can take the port and
    answer in its place (a port closed right after `bind` is free for anyone).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
