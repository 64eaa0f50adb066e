"""Typed FastAPI dependencies shared by every router."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.auth import Principal, Role, authenticate, hash_token
from voxroute.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """The process's `Runtime`, set on the app at start-up."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    async with runtime.api_sessions() as session, session.begin():
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_principal(
    runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """Authenticate the request's bearer token in a short transaction of its own.

    Its own transaction, so the `last_used_at` write never holds a write lock for the rest of
    the request (SQLite allows one writer at a time). The presented token's own bucket is
    checked first: a flood from one token is refused without a database round trip.
    """
    if authorization:
        runtime.api_rate.check("presented:" + hash_token(authorization)[:32])
    async with runtime.api_sessions() as session, session.begin():
        principal = await authenticate(session, authorization)
    runtime.api_rate.check(principal.org_id or principal.token_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def org_reader(principal: PrincipalDep) -> Principal:
    """Any member of an organization may read its resources."""
    principal.require_org()
    return principal


def org_owner(principal: PrincipalDep) -> Principal:
    """Only owners change keys, assistants and numbers."""
    principal.require_org()
    principal.require(Role.OWNER)
    return principal


def platform_admin(principal: PrincipalDep) -> Principal:
    """The request's principal, refused (403) unless it is a platform admin."""
    principal.require(Role.PLATFORM_ADMIN)
    return principal


ReaderDep = Annotated[Principal, Depends(org_reader)]
OwnerDep = Annotated[Principal, Depends(org_owner)]
AdminDep = Annotated[Principal, Depends(platform_admin)]


async def metrics_scraper(
    runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """`/metrics` is for the operator: the configured scrape token or a platform-admin token."""
    expected = runtime.settings.metrics_token
    scheme, _, presented = (authorization or "").partition(" ")
    if (
        expected is not None
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), expected.get_secret_value().encode())
    ):
        return
    platform_admin(await get_principal(runtime, authorization))


ScraperDep = Annotated[None, Depends(metrics_scraper)]
