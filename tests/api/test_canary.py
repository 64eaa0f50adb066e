"""Canary keys go through every key path; the value (and its encodings) must surface nowhere."""

from __future__ import annotations

import base64
import logging
import urllib.parse
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.utils.api import Api
from voxroute.logs import configure_logging

CANARY = "sk-CANARY-7f3a9c1e5b2d4f6a8c0e"


def forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, base64.b64encode(raw).decode(), urllib.parse.quote(value, safe="")]


async def dump_database(api: Api) -> str:
    """Every row of every table, as text (what a pg_dump or a copied SQLite file would show)."""
    chunks: list[str] = []
    async with api.runtime.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            names = (
                (await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")))
                .scalars()
                .all()
            )
        else:
            names = (
                (
                    await conn.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
                    )
                )
                .scalars()
                .all()
            )
        for name in names:
            for row in (await conn.execute(text(f'SELECT * FROM "{name}"'))).all():
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


async def test_canary_key_never_surfaces_in_responses_logs_audit_or_database(
    api: Api, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    org = await api.new_org()
    seen: list[str] = []
    responses = [
        await org.owner.post("/byok", json={"provider": "openai", "api_key": CANARY}),
        await org.owner.get("/byok"),
        await org.owner.get("/credentials"),
        await org.owner.post(
            "/assistants",
            json={
                "name": "Canary",
                "stt_config": {
                    "provider": "deepgram",
                    "byo_api_keys": {"deepgram": {"api_key": CANARY + "dg"}},
                },
                "llm_config": {
                    "provider": "openai",
                    "byo_api_keys": {"openai": {"api_key": CANARY}},
                },
                "tts_config": {"provider": "cartesia"},
            },
        ),
        await org.owner.post("/byok", json={"provider": "openai", "api_key": CANARY + "-v2"}),
        # Wrong types and unknown fields must not echo the value back.
        await org.owner.post("/byok", json={"provider": "openai", "api_key": [CANARY]}),
        await org.owner.post(
            "/credentials", json={"provider": "azure", "fields": {"api_key": CANARY}}
        ),
        await org.owner.post(
            "/assistants",
            json={
                "name": "x",
                "stt_config": {"provider": "deepgram"},
                "llm_config": {
                    "provider": "openai",
                    "byo_api_keys": {"openai": {"api_key": 7, "k": CANARY}},
                },
                "tts_config": {"provider": "cartesia"},
            },
        ),
    ]
    aid = responses[3].json()["id"]
    responses += [
        await org.owner.get(f"/assistants/{aid}"),
        await org.owner.get(f"/assistants/{aid}/export"),
        await org.owner.get("/audit-events"),
    ]
    seen += [r.text for r in responses]
    assert responses[0].status_code == 200 and responses[3].status_code == 201
    assert responses[5].status_code == 422 and responses[6].status_code == 422
    seen.append(caplog.text)
    seen.append(await dump_database(api))
    database_url = api.runtime.settings.resolved_database_url
    if database_url.startswith("sqlite"):
        db_file = Path(database_url.split("///", 1)[1])
        for path in (db_file, Path(f"{db_file}-wal")):
            if path.exists():
                seen.append(path.read_bytes().decode("latin-1"))
    blob = "\n".join(seen)
    for value in forms(CANARY):
        assert value not in blob
