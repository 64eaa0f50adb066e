"""Browser test calls: a `Call` with a single-use token for the Twilio media-stream websocket.

The browser softphone (`/softphone`) speaks Twilio's Media Streams protocol itself, so a web
call goes through the same stream handler, pipeline, key resolution and billing as a phone
call. It has no phone number, hence no Twilio account and no REST hang-up.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, status
from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.admission import Refusal
from voxroute.api.deps import OwnerDep, RuntimeDep, SessionDep
from voxroute.api.schemas.common import StrictModel
from voxroute.assistants import AssistantService
from voxroute.calls.registry import AdmissionRefused
from voxroute.calls.state import CallState, EndReason
from voxroute.db.base import new_id, utcnow
from voxroute.db.models import Call, Organization
from voxroute.errors import InsufficientCredit, NotFound, RateLimited, VoxrouteError
from voxroute.telephony.twilio.tokens import issue_call_token
from voxroute.telephony.twilio.twiml import stream_url

__all__ = ["MAX_PENDING_WEB_CALLS", "WEB_ACCOUNT_SID", "WEB_PROVIDER", "router"]

router = APIRouter(prefix="/calls", tags=["calls"])

WEB_PROVIDER = "web"
# A web call belongs to no Twilio account; the stream protocol still wants an AccountSid.
WEB_ACCOUNT_SID = "AC" + "0" * 32
# Unanswered web calls per org (tokens not yet used nor expired): bounds row creation.
MAX_PENDING_WEB_CALLS = 10


class WebCallCreate(StrictModel):
    assistant_id: str = Field(min_length=1, max_length=40)


async def _pending_web_calls(session: AsyncSession, org_id: str) -> int:
    count = await session.scalar(
        select(func.count(Call.id)).where(
            Call.org_id == org_id,
            Call.telephony_provider == WEB_PROVIDER,
            Call.status == CallState.RINGING.value,
            Call.call_token_used_at.is_(None),
            Call.call_token_expires_at > utcnow(),
        )
    )
    return int(count or 0)


@router.post("/web", status_code=status.HTTP_201_CREATED)
async def create_web_call(
    principal: OwnerDep, runtime: RuntimeDep, session: SessionDep, body: WebCallCreate
) -> dict[str, Any]:
    """Start a browser test call: open `stream_url` and send `start` with this `call_token`."""
    org_id = principal.require_org()
    service = AssistantService(runtime.store, runtime.catalog)
    assistant = await service.get(session, org_id=org_id, assistant_id=body.assistant_id)
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("organization not found")
    if await _pending_web_calls(session, org_id) >= MAX_PENDING_WEB_CALLS:
        raise RateLimited("too many unanswered web calls; wait for their tokens to expire")
    call = Call(
        id=new_id("call"),
        org_id=org_id,
        assistant_id=assistant.id,
        phone_number_id=None,
        telephony_provider=WEB_PROVIDER,
        provider_call_id="WEB" + secrets.token_hex(16),
        from_number="",
        to_number="",
        status=CallState.RINGING.value,
    )
    refusal = await runtime.admission.admit(
        session,
        org_id=org_id,
        call_id=call.id,
        max_concurrent=org.max_concurrent_calls,
        principal=principal,
    )
    if refusal is not None:
        raise _REFUSALS[refusal.reason](refusal)
    token = issue_call_token(call, runtime.settings.call_token_ttl_s)
    session.add(call)
    # Commit before answering (the request's transaction would commit only after the
    # response is sent): the browser opens the websocket with this token at once.
    try:
        await session.commit()
    except SQLAlchemyError:
        await runtime.admission.cancel(org_id=org_id, call_id=call.id)
        raise
    return {
        "call_id": call.id,
        "call_sid": call.provider_call_id,
        "stream_url": stream_url(runtime.settings.resolved_public_url),
        "call_token": token,
        "account_sid": WEB_ACCOUNT_SID,
        "expires_in_s": runtime.settings.call_token_ttl_s,
    }


def _capacity(refusal: Refusal) -> VoxrouteError:
    return AdmissionRefused(f"cannot take a call now: {refusal.detail}")


def _org_cap(refusal: Refusal) -> VoxrouteError:
    return RateLimited(refusal.detail)


def _credit(refusal: Refusal) -> VoxrouteError:
    return InsufficientCredit(refusal.detail)


_REFUSALS: dict[EndReason, Callable[[Refusal], VoxrouteError]] = {
    EndReason.REJECTED_CAPACITY: _capacity,
    EndReason.REJECTED_DRAINING: _capacity,
    EndReason.ORG_CONCURRENCY_LIMIT: _org_cap,
    EndReason.INSUFFICIENT_CREDIT: _credit,
}
