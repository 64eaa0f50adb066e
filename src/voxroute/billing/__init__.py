"""Usage metering, list pricing, the credits ledger and call reservations.

Money is integer micro-USD everywhere (1 USD = 1_000_000). Every function takes the session
factory first and keyword-only arguments after it; charging rules come in a `BillingPolicy`.
"""

from voxroute.billing.ledger import (
    Entry,
    EntryPage,
    balance,
    debit,
    entries,
    open_account,
    read_balance,
    topup,
)
from voxroute.billing.policy import BillingPolicy
from voxroute.billing.pricing import PriceBook, PricedUsage, PricingError, load_pricing, price
from voxroute.billing.reports import (
    CallCostBreakdown,
    CostLine,
    GroupBy,
    UsageSummaryRow,
    call_cost_breakdown,
    usage_csv,
    usage_summary,
)
from voxroute.billing.reservations import (
    HoldRenewal,
    ReservationView,
    Settlement,
    SweepReport,
    extend,
    extend_many,
    hold_credit,
    reserve,
    settle,
    sweep,
)
from voxroute.billing.types import Balance, MeteredStage, Unit, UsageEvent, format_usd
from voxroute.billing.usage import RecorderStats, RecordResult, UsageRecorder, record_usage

__all__ = [
    "Balance",
    "BillingPolicy",
    "CallCostBreakdown",
    "CostLine",
    "Entry",
    "EntryPage",
    "GroupBy",
    "MeteredStage",
    "PriceBook",
    "PricedUsage",
    "PricingError",
    "RecordResult",
    "RecorderStats",
    "HoldRenewal",
    "ReservationView",
    "Settlement",
    "SweepReport",
    "Unit",
    "UsageEvent",
    "UsageRecorder",
    "UsageSummaryRow",
    "balance",
    "call_cost_breakdown",
    "debit",
    "entries",
    "extend",
    "extend_many",
    "hold_credit",
    "format_usd",
    "load_pricing",
    "open_account",
    "price",
    "read_balance",
    "record_usage",
    "reserve",
    "settle",
    "sweep",
    "topup",
    "usage_csv",
    "usage_summary",
]
