"""The master-key rotation job over stored credentials: re-wrap every row, retire a version.

Step 1, `voxroute.vault.rotate_master_key`, changes only the keyring (fast, no database):
new seals use the new version at once; old rows stay readable because the old version is
still decrypt-only. The steps here walk the credential tables, so they live beside the
credential store:

2. `rewrap_all` walks `credential_secrets` in id order, in batches, committing each batch. It
   is resumable (a row already under the primary is not selected again) and safe against live
   traffic: each row is written with `UPDATE … WHERE id = :id AND ciphertext = :old`, so a row
   replaced meanwhile by a user is left alone and counted as a conflict.
3. `retire_version` refuses while any row still names the version, then makes it unusable.

None of these writes audit events; they return results and the caller audits.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.db.models.credentials import Credential, CredentialSecret
from voxroute.db.transactions import write_session
from voxroute.errors import MasterKeyError, VaultError
from voxroute.vault.context import SecretContext
from voxroute.vault.master.base import MasterKeyProvider
from voxroute.vault.vault import SealedSecret, Vault

SessionFactory = async_sessionmaker[AsyncSession]


@dataclass(slots=True)
class RewrapReport:
    """Progress of one `rewrap_all` run; passed to `on_batch` after each committed batch."""

    master_key_id: str
    target_version: int
    batches: int = 0
    scanned: int = 0
    rewrapped: int = 0
    conflicts: int = 0
    failed_ids: list[int] = field(default_factory=list)


BatchHook = Callable[[RewrapReport], Awaitable[None] | None]


async def rewrap_all(
    session_factory: SessionFactory,
    vault: Vault,
    batch_size: int = 100,
    *,
    on_batch: BatchHook | None = None,
) -> RewrapReport:
    """Re-wrap every row of this master key not yet under its primary version.

    Rows that fail (tampered, unknown or retired version) are listed in `failed_ids` and left
    as they are; the job goes on. `on_batch` runs after each commit (progress, throttling).
    Only rows of this vault's master key id are considered; `updated_at` is left alone because
    the secret itself did not change.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    provider = vault.provider
    report = RewrapReport(provider.key_id, provider.current_version)
    last_id = 0
    while True:
        rows = await _next_batch(session_factory, report, last_id, batch_size)
        if not rows:
            return report
        last_id = rows[-1].id
        updates: list[tuple[int, bytes, SealedSecret]] = []
        for row in rows:
            report.scanned += 1
            try:
                ctx = SecretContext(
                    org_id=row.org_id,
                    credential_id=row.credential_id,
                    provider=row.provider,
                    field=row.field,
                    credential_version=row.credential_version,
                )
                sealed = await vault.rewrap(row.ciphertext, ctx)
            except (VaultError, ValueError):
                report.failed_ids.append(row.id)
                continue
            if sealed.blob != row.ciphertext:
                updates.append((row.id, row.ciphertext, sealed))
        await _write_batch(session_factory, report, updates)
        report.batches += 1
        if on_batch is not None:
            outcome = on_batch(report)
            if inspect.isawaitable(outcome):
                await outcome


async def _next_batch(
    session_factory: SessionFactory, report: RewrapReport, after_id: int, limit: int
) -> list[Any]:
    secret, credential = CredentialSecret, Credential
    stmt = (
        select(
            secret.id,
            secret.org_id,
            secret.credential_id,
            secret.credential_version,
            secret.field,
            secret.ciphertext,
            credential.provider,
        )
        .join(
            credential,
            and_(credential.org_id == secret.org_id, credential.id == secret.credential_id),
        )
        .where(
            secret.master_key_id == report.master_key_id,
            secret.master_key_version != report.target_version,
            secret.id > after_id,
        )
        .order_by(secret.id)
        .limit(limit)
    )
    async with session_factory() as session:
        return list((await session.execute(stmt)).all())


async def _write_batch(
    session_factory: SessionFactory,
    report: RewrapReport,
    updates: list[tuple[int, bytes, SealedSecret]],
) -> None:
    if not updates:
        return
    async with write_session(session_factory) as session:
        for row_id, old, sealed in updates:
            stmt = (
                update(CredentialSecret)
                .where(CredentialSecret.id == row_id, CredentialSecret.ciphertext == old)
                .values(
                    ciphertext=sealed.blob,
                    master_key_id=sealed.master_key_id,
                    master_key_version=sealed.master_key_version,
                )
                .execution_options(synchronize_session=False)
            )
            result = cast("CursorResult[Any]", await session.execute(stmt))
            if result.rowcount == 1:
                report.rewrapped += 1
            else:
                report.conflicts += 1


async def retire_version(
    version: int, session_factory: SessionFactory, *, provider: MasterKeyProvider
) -> None:
    """Retire a master-key version, refused while any row still uses it.

    Retire only after every node has seen the promotion and in-flight seals have finished: a
    node that sealed under the old primary just before the promotion could otherwise insert
    its row after this check.
    """
    if version == provider.current_version:
        raise MasterKeyError(
            f"master key {provider.key_id} version {version} is primary; promote another first"
        )
    stmt = select(func.count()).where(
        CredentialSecret.master_key_id == provider.key_id,
        CredentialSecret.master_key_version == version,
    )
    async with session_factory() as session:
        in_use = int((await session.execute(stmt)).scalar_one())
    if in_use:
        raise MasterKeyError(
            f"master key {provider.key_id} version {version} is still used by {in_use} sealed "
            "secret(s); run rewrap_all first"
        )
    await provider.retire(version)
