"""Credentials with key pools: several keys per provider and scope, with label and priority."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from voxroute.api.deps import OwnerDep, ReaderDep, RuntimeDep, SessionDep
from voxroute.api.pagination import LINK_HEADER, PageDep
from voxroute.api.schemas.common import ProviderId
from voxroute.api.schemas.credentials import (
    CredentialCreate,
    CredentialPublic,
    CredentialReplace,
    CredentialUpdate,
)
from voxroute.credentials import CredentialScope, CredentialStatus
from voxroute.errors import Forbidden, NotFound
from voxroute.orgs import get_org

router = APIRouter(prefix="/credentials", tags=["credentials"])


@router.get("", response_model=list[CredentialPublic], responses={200: {"headers": LINK_HEADER}})
async def list_credentials(
    principal: ReaderDep,
    runtime: RuntimeDep,
    session: SessionDep,
    page: PageDep,
    provider: Annotated[ProviderId | None, Query()] = None,
) -> Any:
    """Every key of the org (organization and assistant scope): hints and status, no secrets."""
    creds = await runtime.store.list(
        session,
        org_id=principal.require_org(),
        provider=provider,
        exclude_scope=CredentialScope.TELEPHONY,
        limit=page.fetch,
        offset=page.offset,
    )
    return page.rows(creds)


@router.post("", response_model=CredentialPublic, status_code=status.HTTP_201_CREATED)
async def create_credential(
    principal: OwnerDep, runtime: RuntimeDep, session: SessionDep, body: CredentialCreate
) -> Any:
    """Add an organization key to the provider's pool."""
    org = await get_org(session, principal.require_org())
    if not org.byok_enabled:
        raise Forbidden("BYOK is not enabled for this organization by the platform")
    runtime.catalog.get(body.provider)
    return await runtime.store.create(
        session,
        org_id=org.id,
        provider=body.provider,
        values=body.fields,
        scope=CredentialScope.ORGANIZATION,
        actor=principal.actor,
        label=body.label,
        priority=body.priority,
    )


async def _key(runtime: RuntimeDep, session: SessionDep, org_id: str, credential_id: str) -> Any:
    """A provider key of the org, or 404.

    A number's telephony token is no key here: it is managed (and deleted) with its number
    under /phone-numbers, so this API answers 404 for it.
    """
    cred = await runtime.store.get(session, org_id=org_id, credential_id=credential_id)
    if cred.scope == CredentialScope.TELEPHONY.value:
        raise NotFound("credential not found")
    return cred


@router.get("/{credential_id}", response_model=CredentialPublic)
async def get_credential(
    principal: ReaderDep, runtime: RuntimeDep, session: SessionDep, credential_id: str
) -> Any:
    """One key's metadata."""
    return await _key(runtime, session, principal.require_org(), credential_id)


@router.put("/{credential_id}", response_model=CredentialPublic)
async def replace_credential(
    principal: OwnerDep,
    runtime: RuntimeDep,
    session: SessionDep,
    credential_id: str,
    body: CredentialReplace,
) -> Any:
    """Rotate the key's secret: new version, old ciphertext destroyed."""
    cred = await _key(runtime, session, principal.require_org(), credential_id)
    return await runtime.store.replace(session, cred, body.fields, actor=principal.actor)


@router.patch("/{credential_id}", response_model=CredentialPublic)
async def update_credential(
    principal: OwnerDep,
    runtime: RuntimeDep,
    session: SessionDep,
    credential_id: str,
    body: CredentialUpdate,
) -> Any:
    """Change label, priority or enable/disable the key."""
    cred = await _key(runtime, session, principal.require_org(), credential_id)
    if body.label is not None:
        cred.label = body.label
    if body.priority is not None:
        cred.priority = body.priority
    if body.status is not None:
        runtime.store.set_status(cred, CredentialStatus(body.status))
    return cred


@router.delete("/{credential_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_credential(
    principal: OwnerDep, runtime: RuntimeDep, session: SessionDep, credential_id: str
) -> None:
    """Destroy the key permanently."""
    cred = await _key(runtime, session, principal.require_org(), credential_id)
    await runtime.store.delete(session, cred, actor=principal.actor)
