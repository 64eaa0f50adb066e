"""Read side of metering: usage summaries, CSV export and the cost breakdown of one call.

All queries are scoped by `org_id` first; a call of another org is `NotFound`, never data.
Sums are cast to BIGINT in SQL so PostgreSQL returns integers, not NUMERIC/Decimal.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import BigInteger, ColumnElement, and_, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.billing.policy import BillingPolicy
from voxroute.billing.types import format_usd
from voxroute.db.models.billing import Reservation, UsageRecord
from voxroute.db.models.calls import Call
from voxroute.errors import InvalidInput, NotFound

__all__ = [
    "CallCostBreakdown",
    "CostLine",
    "GroupBy",
    "UsageSummaryRow",
    "call_cost_breakdown",
    "usage_csv",
    "usage_summary",
]

GroupBy = Literal["provider", "assistant", "key_source", "day"]
CSV_COLUMNS = (
    "created_at",
    "call_id",
    "assistant_id",
    "stage",
    "provider",
    "model",
    "key_source",
    "credential_id",
    "unit",
    "quantity",
    "cost_micros",
    "billed_micros",
    "cost_usd",
    "billed_usd",
)


@dataclass(frozen=True, slots=True)
class UsageSummaryRow:
    """Totals of one group and unit (quantities of different units are never added up)."""

    group: str | None
    unit: str
    quantity: int
    cost_micros: int
    billed_micros: int


@dataclass(frozen=True, slots=True)
class CostLine:
    """One stage of a call: units used, list cost, and the part billed (platform keys only)."""

    units: dict[str, int]
    cost_micros: int
    billed_micros: int


@dataclass(frozen=True, slots=True)
class CallCostBreakdown:
    """Per-stage list cost and billed amount; `charged_micros` is set once the call is closed."""

    call_id: str
    transport: CostLine
    stt: CostLine
    llm: CostLine
    tts: CostLine
    platform: CostLine
    total_cost_micros: int
    total_billed_micros: int
    charged_micros: int | None


def _sum(column: Any) -> ColumnElement[int]:
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


def _day(session: AsyncSession) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", UsageRecord.created_at), "YYYY-MM-DD")
    # SQLite stores UTC datetimes as ISO text "YYYY-MM-DD HH:MM:SS.ffffff".
    return func.substr(UsageRecord.created_at, 1, 10)


def _in_range(org_id: str, start: datetime, end: datetime) -> ColumnElement[bool]:
    if end <= start:
        raise InvalidInput("the end of a usage range must be after its start")
    return and_(
        UsageRecord.org_id == org_id,
        UsageRecord.created_at >= start,
        UsageRecord.created_at < end,
    )


def _join_calls() -> Any:
    return UsageRecord.__table__.outerjoin(
        Call.__table__,
        and_(Call.org_id == UsageRecord.org_id, Call.id == UsageRecord.call_id),
    )


async def usage_summary(
    factory: async_sessionmaker[AsyncSession],
    *,
    org_id: str,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
) -> list[UsageSummaryRow]:
    """Usage in [start, end) by provider, assistant, key source or UTC day, and unit."""
    async with factory() as session:
        keys: dict[str, Any] = {
            "provider": UsageRecord.provider,
            "key_source": UsageRecord.key_source,
            "assistant": Call.assistant_id,
            "day": _day(session),
        }
        if group_by not in keys:
            raise InvalidInput(f"cannot group usage by {group_by!r}")
        group = keys[group_by].label("grp")
        query = (
            select(
                group,
                UsageRecord.unit,
                _sum(UsageRecord.quantity),
                _sum(UsageRecord.cost_micros),
                _sum(UsageRecord.billed_micros),
            )
            .select_from(_join_calls())
            .where(_in_range(org_id, start, end))
            .group_by(group, UsageRecord.unit)
            .order_by(group, UsageRecord.unit)
        )
        rows = (await session.execute(query)).all()
    return [UsageSummaryRow(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows]


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: model names and ids come from tenant input.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") and not text[1:].isdigit() else text


async def usage_csv(
    factory: async_sessionmaker[AsyncSession], *, org_id: str, start: datetime, end: datetime
) -> str:
    """Every usage row in [start, end) as CSV (micros exact, USD as fixed 6-decimal text)."""
    query = (
        select(UsageRecord, Call.assistant_id)
        .select_from(_join_calls())
        .where(_in_range(org_id, start, end))
        .order_by(UsageRecord.created_at, UsageRecord.id)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    async with factory() as session:
        for record, assistant_id in (await session.execute(query)).all():
            writer.writerow(
                _cell(v)
                for v in (
                    record.created_at.isoformat(),
                    record.call_id,
                    assistant_id,
                    record.stage,
                    record.provider,
                    record.model,
                    record.key_source,
                    record.credential_id,
                    record.unit,
                    record.quantity,
                    record.cost_micros,
                    record.billed_micros,
                    format_usd(record.cost_micros, symbol=False),
                    format_usd(record.billed_micros, symbol=False),
                )
            )
    return out.getvalue()


async def call_cost_breakdown(
    factory: async_sessionmaker[AsyncSession],
    *,
    org_id: str,
    call_id: str,
    policy: BillingPolicy,
) -> CallCostBreakdown:
    """Transport, stt, llm, tts and platform lines of one call of this org.

    The platform line is the settled fee once the call is closed, else the fee so far.
    """
    async with factory() as session:
        if (
            await session.scalar(select(Call.id).where(Call.org_id == org_id, Call.id == call_id))
            is None
        ):
            raise NotFound(f"call {call_id} not found")
        rows = (
            await session.execute(
                select(
                    UsageRecord.stage,
                    UsageRecord.unit,
                    _sum(UsageRecord.quantity),
                    _sum(UsageRecord.cost_micros),
                    _sum(UsageRecord.billed_micros),
                )
                .where(UsageRecord.org_id == org_id, UsageRecord.call_id == call_id)
                .group_by(UsageRecord.stage, UsageRecord.unit)
            )
        ).all()
        hold = await session.scalar(
            select(Reservation).where(Reservation.org_id == org_id, Reservation.call_id == call_id)
        )
    stages: dict[str, tuple[dict[str, int], int, int]] = {
        s: ({}, 0, 0) for s in ("transport", "stt", "llm", "tts")
    }
    connected_ms = 0
    for stage, unit, quantity, cost, billed in rows:
        units, c, b = stages[stage]
        units[unit] = int(quantity)
        stages[stage] = (units, c + int(cost), b + int(billed))
        if unit == "transport_ms":
            connected_ms = int(quantity)
    minutes, fee = policy.platform_fee(connected_ms)
    if hold is not None and hold.platform_fee_micros is not None:
        fee = hold.platform_fee_micros
    lines = {s: CostLine(units, c, b) for s, (units, c, b) in stages.items()}
    platform = CostLine({"call_minutes": minutes}, fee, fee)
    return CallCostBreakdown(
        call_id=call_id,
        transport=lines["transport"],
        stt=lines["stt"],
        llm=lines["llm"],
        tts=lines["tts"],
        platform=platform,
        total_cost_micros=sum(line.cost_micros for line in lines.values()) + fee,
        total_billed_micros=sum(line.billed_micros for line in lines.values()) + fee,
        charged_micros=hold.charged_micros if hold is not None else None,
    )
