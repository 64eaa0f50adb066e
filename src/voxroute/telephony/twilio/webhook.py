"""Twilio voice and status webhooks, framework-agnostic: validate, decide, answer TwiML."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.calls.host import CallHost
from voxroute.calls.slots import SlotsUnavailable
from voxroute.calls.state import CallState, EndReason
from voxroute.db.base import new_id, utcnow
from voxroute.db.models import Call, Organization, PhoneNumber
from voxroute.db.transactions import run_update, run_write
from voxroute.errors import SignatureInvalid
from voxroute.input_text import bad_text
from voxroute.telephony.twilio.signature import validate_signature
from voxroute.telephony.twilio.tokens import issue_call_token
from voxroute.telephony.twilio.twiml import (
    hangup_twiml,
    reject_twiml,
    say_hangup_twiml,
    stream_twiml,
    stream_url,
)

__all__ = ["TwilioRequest", "WebhookAnswer", "handle_status_callback", "handle_voice_webhook"]

log = logging.getLogger(__name__)
_FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
_MAX_FIELD = 64
# Said to the caller (a member of the public): polite, and no word about the tenant's billing.
REFUSAL_MESSAGE = "Sorry, we cannot take your call right now. Please try again later. Goodbye."


@dataclass(frozen=True, slots=True)
class TwilioRequest:
    """A webhook as received: the public URL Twilio signed, the form fields, the header."""

    url: str
    params: Sequence[tuple[str, str]]
    signature: str | None

    def get(self, name: str) -> str:
        """The field's value; one with control characters reads as empty.

        No carrier id, number or status holds one, and a NUL must never reach a query
        (PostgreSQL refuses it): an unknown number or call then answers exactly as any other
        unknown one.
        """
        for key, value in self.params:
            if key == name:
                value = value[:_MAX_FIELD] if len(value) > _MAX_FIELD else value
                return "" if bad_text(value) else value
        return ""


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """The TwiML to answer a Twilio webhook with, its HTTP status and the call's id, if any."""

    twiml: str
    call_id: str | None = None
    status_code: int = 200


# Built once: building a statement per request costs more CPU than running it.
_NUMBER_AND_ORG = (
    select(PhoneNumber, Organization)
    .outerjoin(Organization, Organization.id == PhoneNumber.org_id)
    .where(PhoneNumber.number == bindparam("to"))
)


async def _number_for(
    session: AsyncSession, to: str
) -> tuple[PhoneNumber | None, Organization | None]:
    """The number called and its org, in one statement."""
    if not to or len(to) > 20:
        return None, None
    row = (await session.execute(_NUMBER_AND_ORG, {"to": to})).first()
    return (row[0], row[1]) if row else (None, None)


async def _verify(
    runtime: CallHost, session: AsyncSession, number: PhoneNumber | None, req: TwilioRequest
) -> PhoneNumber:
    """Signature with the number's org token, then AccountSid; same 403 for every failure."""
    if number is None:
        raise SignatureInvalid("unknown number")
    token = await runtime.open_telephony_secret(session, number)
    validate_signature(token, req.url, req.params, req.signature)
    if number.account_sid and req.get("AccountSid") != number.account_sid:
        raise SignatureInvalid("AccountSid does not own this number")
    return number


async def handle_voice_webhook(runtime: CallHost, req: TwilioRequest) -> WebhookAnswer:
    """Incoming call: answer `<Connect><Stream>` with a fresh single-use call token.

    Raises SignatureInvalid (403) for a forged or missing signature or an unknown number.
    A replay of an already-processed CallSid creates nothing and answers `<Hangup/>`.
    """
    call_sid = req.get("CallSid")
    async with runtime.session_factory() as session:
        number, org = await _number_for(session, req.get("To"))
        number = await _verify(runtime, session, number, req)
        if not call_sid.startswith("CA"):
            raise SignatureInvalid("missing CallSid")
        if number.assistant_id is None:
            return WebhookAnswer(reject_twiml("rejected"))
        call = Call(
            id=new_id("call"),
            org_id=number.org_id,
            assistant_id=number.assistant_id,
            phone_number_id=number.id,
            telephony_provider="twilio",
            provider_call_id=call_sid,
            from_number=req.get("From"),
            to_number=number.number,
            status=CallState.RINGING.value,
        )
        refusal = await runtime.admission.admit(
            session,
            org_id=call.org_id,
            call_id=call.id,
            max_concurrent=org.max_concurrent_calls if org is not None else 0,
        )
    if refusal is None:
        token = issue_call_token(call, runtime.settings.call_token_ttl_s)
    else:  # recorded as ended from the start: one write, and no token for a stream
        call.status, call.end_reason, call.ended_at = (
            CallState.ENDED.value,
            refusal.reason.value,
            utcnow(),
        )

    async def insert(session: AsyncSession) -> None:
        session.add(call)

    try:
        await run_write(runtime.session_factory, insert, retry_integrity=False)
    except IntegrityError:
        # The CallSid is taken: a replay, or the same webhook racing itself. The unique
        # constraint decides, rather than a read before every insert.
        if refusal is None:
            await runtime.admission.cancel(org_id=call.org_id, call_id=call.id)
        return WebhookAnswer(hangup_twiml())
    if refusal is not None:
        log.info("call %s refused at the webhook: %s", call.id, refusal.reason.value)
        if refusal.reason is EndReason.INSUFFICIENT_CREDIT:
            return WebhookAnswer(say_hangup_twiml(REFUSAL_MESSAGE), call_id=call.id)
        return WebhookAnswer(reject_twiml("busy"), call_id=call.id)
    url = stream_url(runtime.settings.resolved_public_url)
    return WebhookAnswer(stream_twiml(url, {"call_token": token}), call_id=call.id)


async def _end_call(runtime: CallHost, call_id: str, reason: str) -> bool:
    """Ended with `reason` unless it already was; True when this changed it."""
    statement = (
        update(Call)
        .where(Call.id == call_id, Call.status != CallState.ENDED.value)
        .values(status=CallState.ENDED.value, end_reason=reason, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return await run_update(runtime.session_factory, statement) == 1


async def handle_status_callback(runtime: CallHost, req: TwilioRequest) -> str | None:
    """Call-progress callback: idempotent; only ever moves a call forward (to ENDED).

    Returns the call id when this callback ended a call that may still be live here.
    """
    call_sid = req.get("CallSid")
    status = req.get("CallStatus")
    async with runtime.session_factory() as session:
        call = (
            await session.execute(
                select(Call).where(
                    Call.telephony_provider == "twilio", Call.provider_call_id == call_sid
                )
            )
        ).scalar_one_or_none()
        number = None
        if call is not None and call.phone_number_id is not None:
            number = await session.get(PhoneNumber, call.phone_number_id)
        await _verify(runtime, session, number, req)
        assert call is not None  # _verify refuses a call without a number
    if status not in _FINAL_STATUSES:
        return None
    reason = call.end_reason or f"{EndReason.TELEPHONY_COMPLETED.value}:{status}"
    changed = await _end_call(runtime, call.id, reason)
    if changed:  # e.g. the caller hung up while ringing: free the org slot at once
        try:
            await runtime.org_slots.release(call.org_id, call.id)
        except SlotsUnavailable:  # the lease expires on its own
            log.warning("call %s: could not release its org slot", call.id)
    return call.id if changed else None
