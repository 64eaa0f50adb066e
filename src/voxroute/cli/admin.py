"""`voxroute admin …`: platform-operator actions straight against the database."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

from voxroute.auth import Role, expires_in, issue_token, list_tokens, revoke_token
from voxroute.cli._common import database, print_json, settings_from_env
from voxroute.db.models import ApiToken
from voxroute.db.session import transaction
from voxroute.errors import InvalidInput, NotFound
from voxroute.orgs import create_org, get_org, list_orgs, set_byok_enabled, set_call_limit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = sub.add_parser("admin", help="platform-admin operations")
    cmds = admin.add_subparsers(dest="admin_cmd", required=True)
    create = cmds.add_parser(
        "create-org", help="create an organization; prints org_id and owner token"
    )
    create.add_argument("name")
    create.add_argument("--byok", action="store_true", help="enable BYOK for the org")
    create.set_defaults(func=lambda a: asyncio.run(_create_org(a.name, a.byok)))
    token = cmds.add_parser("create-token", help="issue an API token")
    group = token.add_mutually_exclusive_group(required=True)
    group.add_argument("--platform", action="store_true", help="a platform-admin token")
    group.add_argument("--org", help="an org token (with --role)")
    token.add_argument("--role", choices=["owner", "member"], default="member")
    token.add_argument("--expires-in-days", type=int, default=None, help="default: never")
    token.set_defaults(
        func=lambda a: asyncio.run(_create_token(a.org, a.role, a.platform, a.expires_in_days))
    )
    tokens = cmds.add_parser("list-tokens", help="list API tokens (never their values)")
    which = tokens.add_mutually_exclusive_group(required=True)
    which.add_argument("--platform", action="store_true", help="platform-admin tokens")
    which.add_argument("--org", help="an organization's tokens")
    tokens.set_defaults(func=lambda a: asyncio.run(_list_tokens(a.org)))
    revoke = cmds.add_parser("revoke-token", help="revoke an API token by id (at once)")
    revoke.add_argument("token_id")
    revoke.set_defaults(func=lambda a: asyncio.run(_revoke_token(a.token_id)))
    byok = cmds.add_parser("set-byok", help="enable or disable BYOK for an organization")
    byok.add_argument("org_id")
    byok.add_argument("state", choices=["on", "off"])
    byok.set_defaults(func=lambda a: asyncio.run(_set_byok(a.org_id, a.state == "on")))
    limit = cmds.add_parser(
        "set-call-limit", help="set an organization's maximum of concurrent calls"
    )
    limit.add_argument("org_id")
    limit.add_argument("limit", type=int)
    limit.set_defaults(func=lambda a: asyncio.run(_set_call_limit(a.org_id, a.limit)))
    listing = cmds.add_parser("list-orgs", help="list organizations")
    listing.set_defaults(func=lambda a: asyncio.run(_list_orgs()))
    topup = cmds.add_parser("topup", help="add credits (integer micro-USD) to an organization")
    topup.add_argument("org_id")
    topup.add_argument("amount", type=int)
    topup.add_argument("--idempotency-key", default=None)
    topup.set_defaults(func=lambda a: asyncio.run(_topup(a.org_id, a.amount, a.idempotency_key)))


def _org_view(org: Any) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "byok_enabled": org.byok_enabled,
        "use_own_keys": org.use_own_keys,
        "failure_policy": org.failure_policy,
        "max_concurrent_calls": org.max_concurrent_calls,
    }


async def _create_org(name: str, byok: bool) -> None:
    async with database(settings_from_env()) as factory, transaction(factory) as session:
        org, token = await create_org(session, name=name, byok=byok, actor="cli")
        print_json({"org_id": org.id, "token": token, "org": _org_view(org)})


async def _create_token(
    org_id: str | None, role: str, platform: bool, expires_in_days: int | None
) -> None:
    if expires_in_days is not None and expires_in_days < 1:
        raise InvalidInput("--expires-in-days must be at least 1")
    async with database(settings_from_env()) as factory, transaction(factory) as session:
        if not platform:
            assert org_id is not None
            await get_org(session, org_id)
        row, token = await issue_token(
            session,
            role=Role.PLATFORM_ADMIN if platform else Role(role),
            org_id=None if platform else org_id,
            name="cli",
            expires_at=expires_in(expires_in_days),
        )
        print_json({**_token_view(row), "org_id": row.org_id, "token": token})


def _token_view(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
    }


async def _list_tokens(org_id: str | None) -> None:
    async with database(settings_from_env()) as factory, factory() as session:
        if org_id is not None:
            await get_org(session, org_id)
        print_json([_token_view(t) for t in await list_tokens(session, org_id=org_id)])


async def _revoke_token(token_id: str) -> None:
    async with database(settings_from_env()) as factory, transaction(factory) as session:
        found = await session.get(ApiToken, token_id)
        if found is None:
            raise NotFound("token not found")
        row = await revoke_token(session, token_id=token_id, org_id=found.org_id, actor="cli")
        print_json(_token_view(row))


async def _set_byok(org_id: str, enabled: bool) -> None:
    async with database(settings_from_env()) as factory, transaction(factory) as session:
        org = await set_byok_enabled(session, await get_org(session, org_id), enabled, actor="cli")
        print_json(_org_view(org))


async def _set_call_limit(org_id: str, limit: int) -> None:
    async with database(settings_from_env()) as factory, transaction(factory) as session:
        org = await set_call_limit(session, await get_org(session, org_id), limit, actor="cli")
        print_json(_org_view(org))


async def _list_orgs() -> None:
    async with database(settings_from_env()) as factory, factory() as session:
        print_json([_org_view(o) for o in await list_orgs(session)])


async def _topup(org_id: str, amount: int, idempotency_key: str | None) -> None:
    from dataclasses import asdict

    from voxroute.billing import balance, topup
    from voxroute.billing.ledger import operator_key

    key = operator_key(idempotency_key or f"cli-topup-{uuid.uuid4()}")
    async with database(settings_from_env()) as factory:
        async with transaction(factory) as session:
            await get_org(session, org_id)
        entry = await topup(factory, org_id=org_id, amount_micros=amount, idempotency_key=key)
        print_json(
            {"entry": asdict(entry), "balance": asdict(await balance(factory, org_id=org_id))}
        )
