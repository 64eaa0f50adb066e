"""Calls: list, detail (status, times, end reason, resolution trace, latency), hang-up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from voxroute.api.deps import OwnerDep, ReaderDep, RuntimeDep, SessionDep
from voxroute.api.pagination import LINK_HEADER, PageDep
from voxroute.api.schemas.responses import HangupResult
from voxroute.billing.reports import CallCostBreakdown, call_cost_breakdown
from voxroute.db.models import Call

router = APIRouter(prefix="/calls", tags=["calls"])


class CallPublic(BaseModel):
    """A call as the API shows it: parties, status, times, end reason, key trace and latency."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    assistant_id: str | None
    telephony_provider: str
    provider_call_id: str
    from_number: str
    to_number: str
    status: str
    end_reason: str | None
    started_at: datetime
    connected_at: datetime | None
    ended_at: datetime | None
    resolution: list[dict[str, Any]]
    latency: dict[str, Any]


@router.get("", response_model=list[CallPublic], responses={200: {"headers": LINK_HEADER}})
async def list_calls(principal: ReaderDep, session: SessionDep, page: PageDep) -> Any:
    """Newest first; each with its id and the telephony provider's call id (Twilio CallSid)."""
    query = (
        select(Call)
        .where(Call.org_id == principal.require_org())
        .order_by(Call.started_at.desc(), Call.id)
    )
    return page.rows((await session.scalars(page.apply(query))).all())


class CallDetail(CallPublic):
    """A call with its cost breakdown once it is billed."""

    cost: CallCostBreakdown | None = None


@router.get("/{call_id}", response_model=CallDetail)
async def get_call(principal: ReaderDep, runtime: RuntimeDep, call_id: str) -> dict[str, Any]:
    """One call with its key-resolution trace, latency figures and (when billed) cost breakdown."""
    org_id = principal.require_org()
    # One connection at a time: closed before the cost breakdown opens its own.
    async with runtime.api_sessions() as session:
        call = await runtime.find_call(session, org_id=org_id, call_id=call_id)
    view: dict[str, Any] = CallPublic.model_validate(call).model_dump(mode="json")
    view["cost"] = await call_cost_breakdown(
        runtime.api_sessions, org_id=org_id, call_id=call.id, policy=runtime.billing.policy
    )
    return view


@router.post("/{call_id}/hangup", response_model=HangupResult)
async def hangup_call(
    principal: OwnerDep, runtime: RuntimeDep, session: SessionDep, call_id: str
) -> dict[str, Any]:
    """End a live call on whichever node serves it (polite end, Twilio hang-up)."""
    call = await runtime.find_call(session, org_id=principal.require_org(), call_id=call_id)
    ended = call.status != "ended" and await runtime.call_control.hang_up(
        call.id, reason="hung_up_by_api"
    )
    return {"id": call.id, "hung_up": ended, "status": call.status}
