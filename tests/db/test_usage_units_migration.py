"""Migration 0003 renames the millisecond units and leaves every quantity as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import _create_pg_database, _drop_pg_database
from voxroute.db.migrate import upgrade
from voxroute.db.models import Call, Organization, UsageRecord
from voxroute.db.session import create_engine, create_session_factory

ROWS = (
    ("u1", 0, "stt", "stt_seconds", 20_720),
    ("u2", 0, "transport", "transport_seconds", 61_000),
)
ROWS += (("u3", 0, "tts", "tts_characters", 42),)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def fresh_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        yield engine
        await engine.dispose()
        return
    name, url = await _create_pg_database()
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        await _drop_pg_database(name)


async def test_rows_written_as_seconds_units_read_as_ms_units_with_the_same_quantity(
    fresh_engine: AsyncEngine,
) -> None:
    await upgrade(fresh_engine, "0002")
    # The schema at 0002 is today's (0003 changes data only), so the models can write it.
    async with create_session_factory(fresh_engine)() as session, session.begin():
        session.add(Organization(id="org_1", name="o"))
        await session.flush()
        session.add(Call(id="call_1", org_id="org_1", provider_call_id="CA1"))
        await session.flush()
        for row_id, seq, stage, unit, quantity in ROWS:
            session.add(
                UsageRecord(
                    id=row_id,
                    org_id="org_1",
                    call_id="call_1",
                    seq=seq,
                    stage=stage,
                    provider="p",
                    model="m",
                    key_source="managed",
                    unit=unit,
                    quantity=quantity,
                    cost_micros=0,
                    billed_micros=0,
                )
            )
    await upgrade(fresh_engine)
    async with fresh_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, unit, quantity FROM usage_records"))).all()
    assert sorted((r[0], r[1], r[2]) for r in rows) == [
        ("u1", "stt_ms", 20_720),
        ("u2", "transport_ms", 61_000),
        ("u3", "tts_characters", 42),
    ]
