"""A canary key sealed into the database never appears in its files or in a full dump."""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from vault_helpers import add_credential, fake_key, load_blob, make_ctx, store_secret

from voxroute.db.base import Base
from voxroute.vault import Secret, Vault

Factory = async_sessionmaker[AsyncSession]


def _forms(value: str) -> list[bytes]:
    raw = value.encode()
    return [raw, base64.b64encode(raw), raw.hex().encode(), urllib.parse.quote(value).encode()]


async def _dump(engine: AsyncEngine) -> str:
    """Every row of every table, as text: what a `pg_dump` or a backup would hold."""
    parts: list[str] = []
    async with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                parts.append(repr(tuple(row)))
                parts.extend(v.hex() for v in row if isinstance(v, bytes))
        if engine.dialect.name == "postgresql":
            rows = await conn.execute(text("SELECT row_to_json(t)::text FROM credential_secrets t"))
            parts.extend(r[0] for r in rows)
    return "\n".join(parts)


async def test_a_sealed_canary_is_absent_from_the_database_dump_and_files(
    engine: AsyncEngine, session_factory: Factory, vault: Vault, db_url: str
) -> None:
    canary, ctx = fake_key("openai"), make_ctx()
    await add_credential(session_factory, ctx)
    row_id = await store_secret(session_factory, ctx, await vault.seal(Secret(canary), ctx))

    dump = await _dump(engine)
    for form in _forms(canary):
        assert form.decode() not in dump
    if engine.dialect.name == "sqlite":
        db_path = Path(db_url.split("///", 1)[1])
        for path in db_path.parent.glob(db_path.name + "*"):  # the file, its -wal and -shm
            data = path.read_bytes()
            for form in _forms(canary):
                assert form not in data, path.name

    row = await load_blob(session_factory, row_id)
    assert row.ciphertext.hex() in dump  # the dump really holds the sealed row
    assert (await vault.open(row.ciphertext, ctx)).reveal() == canary
