"""Phone numbers: which org and assistant a called number reaches, with its telephony token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from voxroute.api.deps import OwnerDep, ReaderDep, RuntimeDep, SessionDep
from voxroute.api.pagination import LINK_HEADER, PageDep
from voxroute.api.schemas.numbers import (
    PhoneNumberCreate,
    PhoneNumberPublic,
    PhoneNumberUpdate,
    TelephonyIn,
)
from voxroute.assistants import AssistantService
from voxroute.audit import AuditAction, record
from voxroute.credentials import CredentialScope
from voxroute.db.base import new_id, utcnow
from voxroute.db.models import Credential, PhoneNumber
from voxroute.errors import Conflict, NotFound
from voxroute.telephony.twilio.numbers import TWILIO_API_BASE_URL, verify_number_on_account
from voxroute.vault.secret import Secret

router = APIRouter(prefix="/phone-numbers", tags=["phone-numbers"])


async def _get(session: SessionDep, org_id: str, number_id: str) -> PhoneNumber:
    number = await session.scalar(
        select(PhoneNumber).where(PhoneNumber.org_id == org_id, PhoneNumber.id == number_id)
    )
    if number is None:
        raise NotFound("phone number not found")
    return number


async def _view(session: SessionDep, number: PhoneNumber) -> dict[str, Any]:
    hint = None
    if number.credential_id:
        hint = await session.scalar(
            select(Credential.hint).where(Credential.id == number.credential_id)
        )
    return PhoneNumberPublic.model_validate(
        {
            **{
                c: getattr(number, c)
                for c in PhoneNumberPublic.model_fields
                if c != "auth_token_hint"
            },
            "auth_token_hint": hint,
        }
    ).model_dump()


async def _verify_on_account(runtime: RuntimeDep, number: str, telephony: TelephonyIn) -> None:
    if not runtime.settings.verify_carrier_numbers:
        return
    assert runtime.http_session is not None  # set at start-up
    await verify_number_on_account(
        runtime.http_session,
        number=number,
        account_sid=telephony.account_sid,
        auth_token=Secret(telephony.auth_token),
        api_base_url=runtime.settings.twilio_api_base_url or TWILIO_API_BASE_URL,
    )


@router.get("", response_model=list[PhoneNumberPublic], responses={200: {"headers": LINK_HEADER}})
async def list_numbers(
    principal: ReaderDep, session: SessionDep, page: PageDep
) -> list[dict[str, Any]]:
    """The org's numbers, oldest first, a page at a time."""
    rows = await session.scalars(
        page.apply(
            select(PhoneNumber)
            .where(PhoneNumber.org_id == principal.require_org())
            .order_by(PhoneNumber.created_at, PhoneNumber.id)
        )
    )
    return [await _view(session, n) for n in page.rows(rows.all())]


@router.post("", response_model=PhoneNumberPublic, status_code=status.HTTP_201_CREATED)
async def create_number(
    principal: OwnerDep, runtime: RuntimeDep, session: SessionDep, body: PhoneNumberCreate
) -> dict[str, Any]:
    """Attach a number the Twilio account holds; its auth token is vaulted, never returned."""
    org_id = principal.require_org()
    # Asked of Twilio before the database is touched: no connection is held meanwhile.
    await _verify_on_account(runtime, body.number, body.telephony)
    if body.assistant_id is not None:
        await AssistantService(runtime.store, runtime.catalog).get(
            session, org_id=org_id, assistant_id=body.assistant_id
        )
    if await session.scalar(select(PhoneNumber.id).where(PhoneNumber.number == body.number)):
        raise Conflict("this number is already registered")
    cred = await runtime.store.create(
        session,
        org_id=org_id,
        provider="twilio",
        values={"auth_token": body.telephony.auth_token},
        scope=CredentialScope.TELEPHONY,
        actor=principal.actor,
        label=body.number,
    )
    number = PhoneNumber(
        id=new_id("num"),
        org_id=org_id,
        number=body.number,
        assistant_id=body.assistant_id,
        telephony_provider=body.telephony.provider,
        account_sid=body.telephony.account_sid,
        credential_id=cred.id,
    )
    session.add(number)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("this number is already registered") from None
    record(
        session,
        action=AuditAction.NUMBER_CREATED,
        org_id=org_id,
        actor=principal.actor,
        target_type="phone_number",
        target_id=number.id,
        data={"number": number.number},
        secrets=[body.telephony.auth_token],
    )
    return await _view(session, number)


@router.get("/{number_id}", response_model=PhoneNumberPublic)
async def get_number(principal: ReaderDep, session: SessionDep, number_id: str) -> dict[str, Any]:
    """One number."""
    return await _view(session, await _get(session, principal.require_org(), number_id))


@router.patch("/{number_id}", response_model=PhoneNumberPublic)
async def update_number(
    principal: OwnerDep,
    runtime: RuntimeDep,
    session: SessionDep,
    number_id: str,
    body: PhoneNumberUpdate,
) -> dict[str, Any]:
    """Route the number to another assistant, or replace its telephony credentials."""
    org_id = principal.require_org()
    number = await _get(session, org_id, number_id)
    if "assistant_id" in body.model_fields_set:
        if body.assistant_id is not None:
            await AssistantService(runtime.store, runtime.catalog).get(
                session, org_id=org_id, assistant_id=body.assistant_id
            )
        number.assistant_id = body.assistant_id
    if body.telephony is not None:
        await _verify_on_account(runtime, number.number, body.telephony)
        number.account_sid = body.telephony.account_sid
        if number.credential_id:
            cred = await runtime.store.get(
                session, org_id=org_id, credential_id=number.credential_id
            )
            await runtime.store.replace(
                session, cred, {"auth_token": body.telephony.auth_token}, actor=principal.actor
            )
    number.updated_at = utcnow()
    record(
        session,
        action=AuditAction.NUMBER_UPDATED,
        org_id=org_id,
        actor=principal.actor,
        target_type="phone_number",
        target_id=number.id,
    )
    return await _view(session, number)


@router.delete("/{number_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_number(
    principal: OwnerDep, runtime: RuntimeDep, session: SessionDep, number_id: str
) -> None:
    """Detach the number and destroy its telephony token."""
    org_id = principal.require_org()
    number = await _get(session, org_id, number_id)
    credential_id = number.credential_id
    await session.delete(number)
    await session.flush()
    if credential_id:
        cred = await runtime.store.get(session, org_id=org_id, credential_id=credential_id)
        await runtime.store.delete(session, cred, actor=principal.actor)
    record(
        session,
        action=AuditAction.NUMBER_DELETED,
        org_id=org_id,
        actor=principal.actor,
        target_type="phone_number",
        target_id=number_id,
    )
