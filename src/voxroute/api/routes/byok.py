"""The org-level BYOK contract: one key per provider, write-only, plus live checks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from voxroute.api.deps import OwnerDep, ReaderDep, RuntimeDep, SessionDep
from voxroute.api.schemas.credentials import ByokDelete, ByokKeyIn, CheckRequest, CheckResultOut
from voxroute.api.schemas.orgs import OrgPublic, OrgSettingsUpdate
from voxroute.api.schemas.responses import ByokConfig, ByokState, ByokWriteResult
from voxroute.credentials import CredentialScope
from voxroute.errors import Forbidden, NotFound
from voxroute.orgs import get_org, set_failure_policy, set_use_own_keys

router = APIRouter(prefix="/byok", tags=["byok"])

# Inworld's secret is a bearer token; the BYOK contract names every primary secret api_key.
PRIMARY_ALIASES = {"inworld": "bearer_token"}


async def _byok_keys(runtime: RuntimeDep, session: SessionDep, org_id: str) -> dict[str, Any]:
    creds = await runtime.store.list(session, org_id=org_id, scope=CredentialScope.ORGANIZATION)
    chosen: dict[str, str] = {}
    for cred in creds:  # ordered by provider, then priority desc: first one is the primary
        chosen.setdefault(cred.provider, cred.id)
    return {f"{pid}_secret_id": chosen.get(pid) for pid in runtime.catalog.ids}


@router.get("", response_model=ByokState)
async def get_byok(
    principal: ReaderDep, runtime: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    """The org's BYOK key ids per provider (null when none) and its BYOK switches."""
    org = await get_org(session, principal.require_org())
    return {
        "byok_keys": await _byok_keys(runtime, session, org.id),
        "byok_enabled": org.byok_enabled,
        "use_own_keys": org.use_own_keys,
    }


@router.post("", response_model=ByokWriteResult)
async def put_byok(
    principal: OwnerDep, runtime: RuntimeDep, session: SessionDep, body: ByokKeyIn
) -> dict[str, Any]:
    """Add or replace the org's key for a provider; the old ciphertext is destroyed."""
    org = await get_org(session, principal.require_org())
    if not org.byok_enabled:
        raise Forbidden("BYOK is not enabled for this organization by the platform")
    provider = body.provider
    runtime.catalog.get(provider)
    fields: dict[str, Any] = dict(body.model_extra or {})
    alias = PRIMARY_ALIASES.get(provider)
    if alias and "api_key" in fields and alias not in fields:
        fields[alias] = fields.pop("api_key")
    existing = await runtime.store.list(
        session, org_id=org.id, scope=CredentialScope.ORGANIZATION, provider=provider
    )
    if existing:
        await runtime.store.replace(session, existing[0], fields, actor=principal.actor)
    else:
        await runtime.store.create(
            session,
            org_id=org.id,
            provider=provider,
            values=fields,
            scope=CredentialScope.ORGANIZATION,
            actor=principal.actor,
        )
    return {"success": True, "byok_keys": await _byok_keys(runtime, session, org.id)}


@router.delete("", response_model=ByokWriteResult)
async def delete_byok(
    principal: OwnerDep, runtime: RuntimeDep, session: SessionDep, body: ByokDelete
) -> dict[str, Any]:
    """Permanently remove the org's key(s) for a provider."""
    org_id = principal.require_org()
    provider = body.provider
    runtime.catalog.get(provider)
    creds = await runtime.store.list(
        session, org_id=org_id, scope=CredentialScope.ORGANIZATION, provider=provider
    )
    if not creds:
        raise NotFound(f"no organization key for {provider}")
    for cred in creds:
        await runtime.store.delete(session, cred, actor=principal.actor)
    return {"success": True, "byok_keys": await _byok_keys(runtime, session, org_id)}


@router.get("/config", response_model=ByokConfig)
async def byok_config(_: ReaderDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Every provider in the catalog: id, name, category, docs, models, voices, fields."""
    return {"providers": [spec.public_view() for spec in runtime.catalog]}


@router.put("/settings", response_model=OrgPublic)
async def update_settings(principal: OwnerDep, session: SessionDep, body: OrgSettingsUpdate) -> Any:
    """The owner's 'use my keys' switch and the org's default failure policy."""
    org = await get_org(session, principal.require_org())
    if body.use_own_keys is not None:
        await set_use_own_keys(session, org, body.use_own_keys, actor=principal.actor)
    if body.failure_policy is not None:
        await set_failure_policy(session, org, body.failure_policy, actor=principal.actor)
    return org


@router.post("/check", response_model=list[CheckResultOut])
async def check_keys(
    principal: OwnerDep, runtime: RuntimeDep, session: SessionDep, body: CheckRequest | None = None
) -> Any:
    """Run each key's cheap provider probe; store and audit the outcome (rate-limited)."""
    provider = body.provider if body else None
    if provider is not None:
        runtime.catalog.get(provider)
    return await runtime.key_checker.check_org(
        session, org_id=principal.require_org(), provider=provider, actor=principal.actor
    )
