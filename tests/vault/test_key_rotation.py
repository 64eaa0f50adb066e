"""Master-key rotation against the real tables: re-wrap, resume, concurrency, retirement."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vault_helpers import fake_key, load_blob, make_ctx, seed, store_secret

from voxroute.credentials.rotation import RewrapReport, retire_version, rewrap_all
from voxroute.db.models.credentials import CredentialSecret
from voxroute.errors import MasterKeyError, VaultError
from voxroute.vault import (
    LocalKeyring,
    SealedSecret,
    Secret,
    SecretContext,
    Vault,
    rotate_master_key,
)

Factory = async_sessionmaker[AsyncSession]


async def _assert_all_open(
    factory: Factory, vault: Vault, rows: dict[int, tuple[SecretContext, str]], version: int
) -> None:
    for row_id, (ctx, value) in rows.items():
        row = await load_blob(factory, row_id)
        assert row.master_key_version == version
        assert (await vault.open(row.ciphertext, ctx)).reveal() == value


async def test_rows_sealed_under_v1_to_vn_end_under_vn_and_old_versions_retire(
    session_factory: Factory, vault: Vault, local_keyring: LocalKeyring
) -> None:
    rows: dict[int, tuple[SecretContext, str]] = {}
    old_blobs: list[tuple[bytes, SecretContext]] = []
    for n in range(1, 4):
        batch = await seed(session_factory, vault, 3, prefix=f"v{n}")
        rows.update(batch)
        for row_id, (ctx, _) in batch.items():
            old_blobs.append(((await load_blob(session_factory, row_id)).ciphertext, ctx))
        await rotate_master_key(local_keyring)
    assert local_keyring.current_version == 4

    with pytest.raises(MasterKeyError, match="version 1 is still used by 3 sealed secret"):
        await retire_version(1, session_factory, provider=local_keyring)

    report = await rewrap_all(session_factory, vault, batch_size=4)
    assert (report.scanned, report.rewrapped, report.conflicts, report.failed_ids) == (9, 9, 0, [])
    assert report.batches == 3
    await _assert_all_open(session_factory, vault, rows, 4)

    for version in (1, 2, 3):
        await retire_version(version, session_factory, provider=local_keyring)
    for blob, ctx in old_blobs:
        with pytest.raises(MasterKeyError, match="retired"):
            await vault.open(blob, ctx)
    await _assert_all_open(session_factory, vault, rows, 4)
    with pytest.raises(MasterKeyError, match="is primary"):
        await retire_version(4, session_factory, provider=local_keyring)


async def test_rewrap_changes_only_the_wrapped_key_never_the_value_ciphertext(
    vault: Vault, local_keyring: LocalKeyring
) -> None:
    from voxroute.vault.blob import parse

    ctx = make_ctx()
    before = parse((await vault.seal(Secret(fake_key()), ctx)).blob)
    await rotate_master_key(local_keyring)
    after = parse((await vault.rewrap(before.pack(), ctx)).blob)
    assert (after.nonce, after.ciphertext) == (before.nonce, before.ciphertext)
    assert after.wrapped_dek != before.wrapped_dek
    assert after.master_key_version == 2
    assert await vault.rewrap(after.pack(), ctx) == SealedSecret(
        after.pack(), after.master_key_id, 2
    )


async def test_a_rewrap_job_killed_after_one_batch_finishes_when_run_again(
    session_factory: Factory, vault: Vault, local_keyring: LocalKeyring
) -> None:
    rows = await seed(session_factory, vault, 7)
    await rotate_master_key(local_keyring)

    def kill_after_first_batch(report: RewrapReport) -> None:
        raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        await rewrap_all(session_factory, vault, batch_size=3, on_batch=kill_after_first_batch)
    versions = [(await load_blob(session_factory, i)).master_key_version for i in sorted(rows)]
    assert versions == [2, 2, 2, 1, 1, 1, 1]

    resumed = await rewrap_all(session_factory, vault, batch_size=3)
    assert (resumed.scanned, resumed.rewrapped) == (4, 4)
    await _assert_all_open(session_factory, vault, rows, 2)
    again = await rewrap_all(session_factory, vault, batch_size=3)
    assert (again.scanned, again.rewrapped, again.batches) == (0, 0, 0)


class _RacingVault(Vault):
    """Replaces a row's secret (as a user would) while the job is re-wrapping it."""

    def __init__(self, inner: Vault, factory: Factory, target: int, new_value: str) -> None:
        super().__init__(inner.provider)
        self._factory, self._target, self._new_value = factory, target, new_value

    async def rewrap(self, blob: bytes, ctx: SecretContext) -> SealedSecret:
        result = await super().rewrap(blob, ctx)
        row = await load_blob(self._factory, self._target)
        if row.ciphertext == blob:
            fresh = await self.seal(Secret(self._new_value), ctx)
            async with self._factory() as session, session.begin():
                await session.execute(
                    update(CredentialSecret)
                    .where(CredentialSecret.id == self._target)
                    .values(ciphertext=fresh.blob, master_key_version=fresh.master_key_version)
                )
        return result


async def test_the_rewrap_job_loses_cleanly_to_a_concurrent_replacement(
    session_factory: Factory, vault: Vault, local_keyring: LocalKeyring
) -> None:
    rows = await seed(session_factory, vault, 3)
    target = sorted(rows)[1]
    await rotate_master_key(local_keyring)
    replacement = fake_key()
    racing = _RacingVault(vault, session_factory, target, replacement)

    report = await rewrap_all(session_factory, racing)
    assert (report.rewrapped, report.conflicts) == (2, 1)
    ctx, _ = rows[target]
    row = await load_blob(session_factory, target)
    assert (await vault.open(row.ciphertext, ctx)).reveal() == replacement
    rows[target] = (ctx, replacement)
    await _assert_all_open(session_factory, vault, rows, 2)
    assert (await rewrap_all(session_factory, vault)).scanned == 0


async def test_rows_that_do_not_open_are_reported_and_keep_their_version_referenced(
    session_factory: Factory, vault: Vault, local_keyring: LocalKeyring
) -> None:
    rows = await seed(session_factory, vault, 3)
    bad_id = sorted(rows)[0]
    ctx, _ = rows[bad_id]
    # A blob moved from another row: valid format, wrong context.
    moved = await vault.seal(Secret(fake_key()), make_ctx(credential_id="elsewhere"))
    async with session_factory() as session, session.begin():
        await session.execute(
            update(CredentialSecret)
            .where(CredentialSecret.id == bad_id)
            .values(ciphertext=moved.blob)
        )
    await rotate_master_key(local_keyring)
    report = await rewrap_all(session_factory, vault)
    assert report.failed_ids == [bad_id]
    assert report.rewrapped == 2
    with pytest.raises(MasterKeyError, match="still used by 1"):
        await retire_version(1, session_factory, provider=local_keyring)


async def test_seal_open_rotate_and_rewrap_run_concurrently_without_corruption(
    session_factory: Factory, vault: Vault, local_keyring: LocalKeyring
) -> None:
    rows = await seed(session_factory, vault, 12)
    extra: dict[int, tuple[SecretContext, str]] = {}
    rng = random.Random(7)

    async def reader() -> None:
        for row_id in rng.sample(sorted(rows), len(rows)):
            ctx, value = rows[row_id]
            row = await load_blob(session_factory, row_id)
            assert (await vault.open(row.ciphertext, ctx)).reveal() == value

    async def writer(n: int) -> None:
        ctx = make_ctx(credential_id=f"new_{n}", org_id=f"org_new_{n}")
        from vault_helpers import add_credential

        await add_credential(session_factory, ctx)
        value = fake_key()
        extra[await store_secret(session_factory, ctx, await vault.seal(Secret(value), ctx))] = (
            ctx,
            value,
        )

    async def rotator() -> None:
        for _ in range(2):
            await rotate_master_key(local_keyring)
            await asyncio.sleep(0)

    async def rewrapper() -> RewrapReport:
        return await rewrap_all(session_factory, vault, batch_size=5)

    jobs: list[Any] = [reader() for _ in range(4)]
    jobs += [writer(n) for n in range(6)]
    jobs += [rotator(), rewrapper(), rewrapper()]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    unexpected = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, VaultError) for r in unexpected), unexpected
    for report in results:
        if isinstance(report, RewrapReport):
            assert report.failed_ids == []

    await rewrap_all(session_factory, vault)
    everything = {**rows, **extra}
    await _assert_all_open(session_factory, vault, everything, local_keyring.current_version)
    for version in range(1, local_keyring.current_version):
        await retire_version(version, session_factory, provider=local_keyring)
    await _assert_all_open(session_factory, vault, everything, local_keyring.current_version)
