"""Migration 0005: stored stage configs lose unknown fields; plaintext keys stop the
migration (naming assistants and fields, never values) until the operator scrubs them."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import _create_pg_database, _drop_pg_database
from voxroute.db.migrate import upgrade
from voxroute.db.models import Assistant, AuditEvent, Organization
from voxroute.db.session import create_engine, create_session_factory
from voxroute.db.stage_config_scan import PlaintextKeysFound

KEY = "sk-proj-" + secrets.token_hex(20)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def fresh_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An empty database of its own: this test migrates it step by step."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
        yield engine
        await engine.dispose()
        return
    name, url = await _create_pg_database()
    engine = create_engine(url)
    yield engine
    await engine.dispose()
    await _drop_pg_database(name)


async def _seed(engine: AsyncEngine) -> None:
    await upgrade(engine, "0002")
    async with create_session_factory(engine)() as session, session.begin():
        session.add(Organization(id="org_m", name="M"))
        await session.flush()
        common = {"org_id": "org_m", "name": "a", "system_prompt": "", "first_message": ""}
        session.add(
            Assistant(
                id="asst_leaky",
                stt_config={"provider": "deepgram"},
                llm_config={"provider": "openai", "api_key": KEY},
                tts_config={"provider": "cartesia", "voice": "v1", "colour": "red"},
                **common,
            )
        )
        session.add(
            Assistant(
                id="asst_clean",
                stt_config={"provider": "deepgram", "byo_providers": []},
                llm_config={"provider": "openai", "model": "gpt-4o-mini"},
                tts_config={"provider": "cartesia", "speed": 1.2},
                **common,
            )
        )


async def test_plaintext_keys_refuse_the_migration_with_a_clear_message(
    fresh_engine: AsyncEngine,
) -> None:
    await _seed(fresh_engine)
    with pytest.raises(PlaintextKeysFound) as refused:
        await upgrade(fresh_engine)
    message = str(refused.value)
    assert "asst_leaky: llm_config.api_key" in message and "--scrub-plaintext-keys" in message
    assert KEY not in message and "asst_clean" not in message
    async with create_session_factory(fresh_engine)() as session:
        leaky = await session.get(Assistant, "asst_leaky")
        assert leaky is not None and leaky.llm_config["api_key"] == KEY  # nothing half-done


async def test_scrubbing_deletes_the_keys_audits_it_and_drops_unknown_fields(
    fresh_engine: AsyncEngine,
) -> None:
    await _seed(fresh_engine)
    await upgrade(fresh_engine, scrub_plaintext_keys=True)
    async with create_session_factory(fresh_engine)() as session:
        leaky = await session.get(Assistant, "asst_leaky")
        clean = await session.get(Assistant, "asst_clean")
        events = (await session.scalars(select(AuditEvent))).all()
    assert leaky is not None and clean is not None
    assert leaky.llm_config == {"provider": "openai"}
    assert leaky.tts_config == {"provider": "cartesia", "voice_id": "v1"}
    assert clean.tts_config == {"provider": "cartesia"}
    assert clean.llm_config == {"provider": "openai", "model": "gpt-4o-mini"}
    [event] = events
    assert event.action == "assistant.plaintext_key_removed" and event.target_id == "asst_leaky"
    assert event.data["fields"] == ["llm_config.api_key"] and KEY not in str(event.data)
