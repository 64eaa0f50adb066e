"""Calls that never connected are ended, not left ringing forever."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.db.base import new_id, utcnow
from voxroute.db.models import Call, Organization
from voxroute.maintenance import Maintenance


async def test_stale_ringing_calls_end_as_never_connected_and_live_ones_stay(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    org_id = new_id("org")
    stale, fresh, live = new_id("call"), new_id("call"), new_id("call")
    async with session_factory() as session, session.begin():
        session.add(Organization(id=org_id, name="M"))
        await session.flush()
        old = utcnow() - timedelta(minutes=10)
        session.add_all(
            [
                Call(id=stale, org_id=org_id, provider_call_id="CA-stale", started_at=old),
                Call(id=fresh, org_id=org_id, provider_call_id="CA-fresh"),
                Call(
                    id=live,
                    org_id=org_id,
                    provider_call_id="CA-live",
                    status="connected",
                    started_at=old,
                ),
            ]
        )
    assert await Maintenance(session_factory, call_token_ttl_s=60).run_once() == 1
    async with session_factory() as session:
        rows = {c.id: c for c in [await session.get(Call, i) for i in (stale, fresh, live)] if c}
    assert (rows[stale].status, rows[stale].end_reason) == ("ended", "never_connected")
    assert rows[stale].ended_at is not None
    assert rows[fresh].status == "ringing" and rows[live].status == "connected"
