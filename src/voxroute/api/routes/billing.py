"""Credits (balance, ledger, top-ups) and usage reports. Money is integer micro-USD."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import PlainTextResponse
from pydantic import Field

from voxroute.api.deps import AdminDep, ReaderDep, RuntimeDep
from voxroute.api.params import (
    DEFAULT_PAGE_SIZE,
    MAX_INT64,
    QueryInt,
    Timestamp,
)
from voxroute.api.schemas.common import StrictModel
from voxroute.api.schemas.responses import BalanceOut, TopupResult, UsageReport
from voxroute.billing import balance, entries, topup, usage_csv, usage_summary
from voxroute.billing.ledger import EntryPage, operator_key
from voxroute.orgs import get_org

router = APIRouter(tags=["billing"])
# The ledger's page bound predates the API-wide 200; clients already page it by 500.
MAX_LEDGER_PAGE = 500


class CreditTopup(StrictModel):
    """A platform admin's credit to an org's balance, in micro-USD."""

    org_id: str = Field(max_length=40)
    amount: int = Field(gt=0, le=10**13, description="micro-USD")
    description: str = Field(default="", max_length=200)


def _balance_view(b: Any) -> dict[str, Any]:
    return {
        "balance": b.balance_micros,
        "reserved": b.reserved_micros,
        "available": b.available_micros,
        "unit": b.unit,
    }


@router.post("/billing/credits", response_model=TopupResult, status_code=status.HTTP_201_CREATED)
async def add_credits(
    principal: AdminDep,
    runtime: RuntimeDep,
    body: CreditTopup,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Platform admin tops up an org; `Idempotency-Key` makes retries safe."""
    # One connection at a time: the check's session is closed before the top-up opens its own.
    async with runtime.api_sessions() as session:
        await get_org(session, body.org_id)
    key = idempotency_key or f"topup-{principal.token_id}-{datetime.now(UTC).isoformat()}"
    entry = await topup(
        runtime.api_sessions,
        org_id=body.org_id,
        amount_micros=body.amount,
        idempotency_key=operator_key(key),
        description=body.description,
    )
    current = await balance(runtime.api_sessions, org_id=body.org_id)
    return {"entry": dataclasses.asdict(entry), **_balance_view(current)}


@router.get("/billing/balance", response_model=BalanceOut)
async def get_balance(principal: ReaderDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Balance, reserved and available credit, in integer micro-USD."""
    return _balance_view(await balance(runtime.api_sessions, org_id=principal.require_org()))


@router.get("/billing/ledger", response_model=EntryPage)
async def get_ledger(
    principal: ReaderDep,
    runtime: RuntimeDep,
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_LEDGER_PAGE)] = DEFAULT_PAGE_SIZE,
    before_seq: Annotated[QueryInt | None, Query(ge=1, le=MAX_INT64)] = None,
) -> dict[str, Any]:
    """Append-only ledger entries, newest first."""
    page = await entries(
        runtime.api_sessions, org_id=principal.require_org(), limit=limit, before_seq=before_seq
    )
    return dataclasses.asdict(page)


def _period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=30)
    return start, end


@router.get("/usage", response_model=UsageReport)
async def get_usage(
    principal: ReaderDep,
    runtime: RuntimeDep,
    group_by: Literal["provider", "assistant", "key_source", "day"] = "provider",
    start: Timestamp | None = None,
    end: Timestamp | None = None,
) -> dict[str, Any]:
    """Usage and cost grouped by provider, assistant, key source or day."""
    start, end = _period(start, end)
    rows = await usage_summary(
        runtime.api_sessions,
        org_id=principal.require_org(),
        start=start,
        end=end,
        group_by=group_by,
    )
    return {
        "start": start,
        "end": end,
        "group_by": group_by,
        "rows": [dataclasses.asdict(r) for r in rows],
    }


class CSVResponse(PlainTextResponse):
    """Plain text served as `text/csv`, which OpenAPI then declares for the route."""

    media_type = "text/csv"


@router.get("/usage.csv", response_class=CSVResponse)
async def get_usage_csv(
    principal: ReaderDep,
    runtime: RuntimeDep,
    start: Timestamp | None = None,
    end: Timestamp | None = None,
) -> CSVResponse:
    """Every usage row of the period as CSV (no secrets, only ids and key sources)."""
    start, end = _period(start, end)
    text = await usage_csv(
        runtime.api_sessions, org_id=principal.require_org(), start=start, end=end
    )
    return CSVResponse(text)
