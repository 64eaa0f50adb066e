"""`voxroute keys …`: master-key rotation, resumable re-wrap and retirement."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict

from voxroute.audit import AuditAction, record
from voxroute.cli._common import database, print_json, settings_from_env
from voxroute.credentials.rotation import retire_version, rewrap_all
from voxroute.db.session import transaction
from voxroute.vault import Vault, rotate_master_key
from voxroute.vault.master.factory import master_key_provider_from_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="master-key rotation")
    cmds = keys.add_subparsers(dest="keys_cmd", required=True)
    rotate = cmds.add_parser("rotate", help="add a master-key version and make it primary")
    rotate.add_argument("--stage-only", action="store_true", help="add without promoting")
    rotate.set_defaults(func=lambda a: asyncio.run(_rotate(not a.stage_only)))
    rewrap = cmds.add_parser(
        "rewrap", help="re-wrap every secret under the primary version (resumable)"
    )
    rewrap.add_argument("--batch-size", type=int, default=100)
    rewrap.set_defaults(func=lambda a: asyncio.run(_rewrap(a.batch_size)))
    retire = cmds.add_parser("retire", help="retire a version no row uses any more")
    retire.add_argument("version", type=int)
    retire.set_defaults(func=lambda a: asyncio.run(_retire(a.version)))


async def _rotate(promote: bool) -> None:
    settings = settings_from_env()
    provider = master_key_provider_from_settings(settings)
    result = await rotate_master_key(provider, promote=promote)
    async with database(settings) as factory, transaction(factory) as session:
        record(
            session,
            action=AuditAction.MASTER_KEY_ROTATED,
            org_id=None,
            actor="cli",
            target_type="master_key",
            target_id=provider.key_id,
            data=asdict(result),
        )
    print_json(asdict(result))


async def _rewrap(batch_size: int) -> None:
    settings = settings_from_env()
    vault = Vault(master_key_provider_from_settings(settings))
    async with database(settings) as factory:
        report = await rewrap_all(factory, vault, batch_size)
        async with transaction(factory) as session:
            record(
                session,
                action=AuditAction.MASTER_KEY_REWRAPPED,
                org_id=None,
                actor="cli",
                target_type="master_key",
                target_id=report.master_key_id,
                data={"rewrapped": report.rewrapped, "failed": len(report.failed_ids)},
            )
    print_json(asdict(report))


async def _retire(version: int) -> None:
    settings = settings_from_env()
    provider = master_key_provider_from_settings(settings)
    async with database(settings) as factory:
        await retire_version(version, factory, provider=provider)
    print_json({"retired": version, "key_id": provider.key_id})
