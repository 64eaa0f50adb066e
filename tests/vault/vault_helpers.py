"""Helpers shared by the vault tests: contexts, canary keys, database rows."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.db.models.credentials import Credential, CredentialSecret
from voxroute.db.models.tenancy import Organization
from voxroute.vault import SealedSecret, SecretContext


def make_ctx(**overrides: Any) -> SecretContext:
    values: dict[str, Any] = {
        "org_id": "org_a",
        "credential_id": "cred_1",
        "provider": "openai",
        "field": "api_key",
        "credential_version": 1,
    }
    values.update(overrides)
    return SecretContext(**values)


def fake_key(provider: str = "openai") -> str:
    """A realistic-looking fake key, different every time (a canary)."""
    return f"sk-{provider}-canary-{secrets.token_hex(20)}"


Factory = async_sessionmaker[AsyncSession]


async def add_credential(factory: Factory, ctx: SecretContext) -> None:
    """Insert the org (if new) and credential row that a sealed secret belongs to."""
    async with factory() as session, session.begin():
        if await session.get(Organization, ctx.org_id) is None:
            session.add(Organization(id=ctx.org_id, name=ctx.org_id))
            await session.flush()
        session.add(
            Credential(
                id=ctx.credential_id,
                org_id=ctx.org_id,
                scope="organization",
                provider=ctx.provider,
                version=ctx.credential_version,
            )
        )


async def store_secret(factory: Factory, ctx: SecretContext, sealed: SealedSecret) -> int:
    """Insert one `credential_secrets` row; returns its id."""
    async with factory() as session, session.begin():
        row = CredentialSecret(
            org_id=ctx.org_id,
            credential_id=ctx.credential_id,
            credential_version=ctx.credential_version,
            field=ctx.field,
            ciphertext=sealed.blob,
            master_key_id=sealed.master_key_id,
            master_key_version=sealed.master_key_version,
        )
        session.add(row)
        await session.flush()
        return row.id


async def seed(
    factory: Factory, vault: Any, count: int, *, prefix: str = "cred"
) -> dict[int, tuple[SecretContext, str]]:
    """Seal and store `count` secrets (one credential each); returns {row id: (ctx, value)}."""
    from voxroute.vault import Secret

    rows: dict[int, tuple[SecretContext, str]] = {}
    for i in range(count):
        ctx = make_ctx(credential_id=f"{prefix}_{i}", org_id=f"org_{i % 3}")
        await add_credential(factory, ctx)
        value = fake_key()
        rows[await store_secret(factory, ctx, await vault.seal(Secret(value), ctx))] = (
            ctx,
            value,
        )
    return rows


async def load_blob(factory: Factory, row_id: int) -> CredentialSecret:
    async with factory() as session:
        row = await session.get(CredentialSecret, row_id)
        assert row is not None
        return row
