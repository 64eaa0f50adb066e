"""The database side of a call session: read its configuration at set-up, write its end.

Both run off the audio path (before the pipeline starts, after it stops).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.calls.host import CallHost
from voxroute.calls.pipeline import AssistantConfig
from voxroute.calls.state import CallState, EndReason
from voxroute.db.base import utcnow
from voxroute.db.models import Assistant, Call, Organization, PhoneNumber
from voxroute.db.transactions import run_update, run_write
from voxroute.errors import CallTokenInvalid, KeyNotFound
from voxroute.routing.policy import effective_policy
from voxroute.routing.types import ResolvedStage, Stage
from voxroute.telephony.media import SecretOpener
from voxroute.vault.secret import Secret

__all__ = ["CallSetup", "expire_unconnected_calls", "load_call_setup", "write_call_end"]


@dataclass(frozen=True, slots=True)
class CallSetup:
    """What a call read from the database at set-up: assistant, resolved stages, carrier secret."""

    assistant: AssistantConfig
    stages: dict[Stage, ResolvedStage]
    hang_up_secret: SecretOpener | None  # the carrier's, opened only for its hang-up
    connected_at: datetime


# The set-up's statements, built once: building them per call cost more CPU than running
# them. One statement reads the three rows; a web call has no
# number (`number_id` NULL joins nothing).
_CONFIGURATION = (
    select(Assistant, Organization, PhoneNumber)
    .outerjoin(Organization, Organization.id == Assistant.org_id)
    .outerjoin(PhoneNumber, PhoneNumber.id == bindparam("number_id"))
    .where(Assistant.id == bindparam("assistant_id"), Assistant.org_id == bindparam("org_id"))
)
_CONNECT = (
    update(Call)
    .where(Call.id == bindparam("call_id"), Call.status == CallState.RINGING.value)
    .values(
        status=CallState.CONNECTED.value,
        connected_at=bindparam("connected_at", type_=Call.connected_at.type),
        resolution=bindparam("resolution", type_=Call.resolution.type),
        node_id=bindparam("node_id"),
    )
    .execution_options(synchronize_session=False)
)


def _secret_opener(runtime: CallHost, number: PhoneNumber) -> SecretOpener:
    async def open_token() -> Secret:
        async with runtime.session_factory() as session:
            return await runtime.open_telephony_secret(session, number)

    return open_token


async def load_call_setup(runtime: CallHost, call: Call, account_sid: str) -> CallSetup:
    """Assistant, keys and the carrier's credentials; marks the call connected.

    Reads first, then one write transaction: the credit hold, the key-use marks and audit
    rows, and the connect commit together (one write lock per set-up, not two).
    """
    async with runtime.session_factory() as session:
        # One statement for the three rows; `resolve_stages` finds them in the identity map.
        params = {
            "assistant_id": call.assistant_id,
            "org_id": call.org_id,
            "number_id": call.phone_number_id,
        }
        row = (await session.execute(_CONFIGURATION, params)).first()
        if row is None:
            raise KeyNotFound("the number has no assistant")
        assistant, org, number = row
        if number is not None and number.account_sid and number.account_sid != account_sid:
            raise CallTokenInvalid("stream account does not own the number")
        # The webhook has just checked the signature with the number's token; the call needs
        # it again only to hang up through the carrier, so it is read then, not before the
        # first audio.
        token = _secret_opener(runtime, number) if number is not None else None
        resolved = await runtime.resolve_stages(session, call)
        config = AssistantConfig(
            system_prompt=assistant.system_prompt,
            first_message=assistant.first_message,
            max_duration_s=assistant.max_duration_s,
            idle_timeout_s=assistant.idle_timeout_s,
            failure_policy=effective_policy(
                assistant.failure_policy, org.failure_policy if org else None
            ),
        )
    connected_at = utcnow()

    async def connect(session: AsyncSession) -> None:
        await runtime.start_call(session, call, resolved)
        params = {
            "call_id": call.id,
            "connected_at": connected_at,
            "resolution": [stage.trace() for stage in resolved],
            "node_id": runtime.node_id,  # whose heartbeat vouches for the call
        }
        result = await session.execute(_CONNECT, params)
        if getattr(result, "rowcount", 0) != 1:  # rolls the hold back with it
            raise CallTokenInvalid("the call already ended")

    await run_write(runtime.session_factory, connect)
    return CallSetup(config, {stage.stage: stage for stage in resolved}, token, connected_at)


async def write_call_end(
    runtime: CallHost,
    call_id: str,
    *,
    reason: str,
    ended_at: datetime,
    resolution: list[dict[str, Any]] | None,
    latency: dict[str, Any],
) -> None:
    """Final state; overrides only a carrier-side end (more precise reason wins)."""
    values: dict[str, Any] = {
        "status": CallState.ENDED.value,
        "end_reason": reason,
        "ended_at": ended_at,
        "latency": latency,
    }
    if resolution is not None:
        values["resolution"] = resolution
    statement = (
        update(Call)
        .where(
            Call.id == call_id,
            or_(
                Call.status != CallState.ENDED.value,
                Call.end_reason.like("telephony_completed%"),
                Call.end_reason.is_(None),
            ),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await run_update(runtime.session_factory, statement)


async def expire_unconnected_calls(
    factory: async_sessionmaker[AsyncSession], *, older_than: timedelta
) -> int:
    """End calls still ringing long after their call token expired (the stream never came).

    Covers a Twilio call whose stream never connected and a browser call that was created
    but never dialled; without this they would stay `ringing` forever.
    """
    cutoff = utcnow() - older_than
    statement = (
        update(Call)
        .where(Call.status == CallState.RINGING.value, Call.started_at < cutoff)
        .values(
            status=CallState.ENDED.value,
            end_reason=EndReason.NEVER_CONNECTED.value,
            ended_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return await run_update(factory, statement)
