"""Billing tables: metered usage, the append-only credit ledger, per-org accounts, call holds.

Every amount is an integer count of micro-USD (1 USD = 1_000_000); there is no float column.
Invariants kept by `voxroute.billing` (and checked after every billing test):

* `credit_accounts.balance_micros` == sum of the org's `ledger_entries.amount_micros`;
* `balance_micros - reserved_micros >= floor_micros` (also a CHECK constraint, the backstop
  behind the conditional `UPDATE … WHERE available >= amount` that the code relies on);
* `reserved_micros` == sum of the org's `held` reservations.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from voxroute.db.base import Base, UTCDateTime, utcnow


class CreditAccount(Base):
    """One row per org; updated in the same transaction as every ledger entry it sums."""

    __tablename__ = "credit_accounts"
    __table_args__ = (
        CheckConstraint("reserved_micros >= 0", name="reserved_not_negative"),
        CheckConstraint(
            "balance_micros - reserved_micros >= floor_micros", name="available_above_floor"
        ),
    )

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    balance_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    # The lowest balance allowed; negative values grant a credit line. Default: prepaid (0).
    floor_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    # Sequence number of the last ledger entry; gives entries a gap-free per-org order.
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    """Append-only: rows are inserted, never updated or deleted by voxroute.

    There is deliberately no foreign key to `calls`: the ledger is the financial record and
    must outlive call rows removed by retention.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("org_id", "idempotency_key"),
        UniqueConstraint("org_id", "seq"),
        Index("ix_ledger_entries_org_call", "org_id", "call_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    amount_micros: Mapped[int] = mapped_column(BigInteger)  # signed: + credit, - charge
    balance_after_micros: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))  # topup | debit | adjustment | call_charge
    idempotency_key: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the canonical request; a replay under the same key must match it.
    request_hash: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reservation(Base):
    """A credit hold for one call: held -> settled | expired (swept, charged) | released."""

    __tablename__ = "reservations"
    __table_args__ = (
        UniqueConstraint("org_id", "id"),
        UniqueConstraint("call_id"),
        ForeignKeyConstraint(
            ["org_id", "call_id"], ["calls.org_id", "calls.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["org_id", "settle_entry_id"], ["ledger_entries.org_id", "ledger_entries.id"]
        ),
        CheckConstraint("amount_micros >= 0", name="amount_not_negative"),
        Index("ix_reservations_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(40))
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="held")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Last time the serving worker renewed the hold, i.e. saw the call alive: a call whose
    # worker died is charged its connected time up to here.
    alive_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settle_entry_id: Mapped[str | None] = mapped_column(String(40))
    # Filled at settlement: what was charged and how it splits.
    charged_micros: Mapped[int | None] = mapped_column(BigInteger)
    platform_fee_micros: Mapped[int | None] = mapped_column(BigInteger)
    provider_micros: Mapped[int | None] = mapped_column(BigInteger)
    # Only the sweeper can leave one: what a dead call used beyond its hold and the org's credit.
    shortfall_micros: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageRecord(Base):
    """Raw metered usage of one stage of one call, priced at list price when written.

    `quantity` is in the unit's base: milliseconds for `stt_ms` and `transport_ms`,
    tokens for `llm_*_tokens`, characters for `tts_characters`. `(call_id, stage, unit, seq)`
    is the idempotency key of a row: a replayed batch inserts nothing.
    """

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("org_id", "call_id", "stage", "unit", "seq"),
        ForeignKeyConstraint(
            ["org_id", "call_id"], ["calls.org_id", "calls.id"], ondelete="CASCADE"
        ),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        Index("ix_usage_records_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    stage: Mapped[str] = mapped_column(String(16))  # stt | llm | tts | transport
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(100))
    # assistant | organization | managed | managed_fallback
    key_source: Mapped[str] = mapped_column(String(24))
    credential_id: Mapped[str | None] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(BigInteger)
    cost_micros: Mapped[int] = mapped_column(BigInteger)  # list-price estimate
    billed_micros: Mapped[int] = mapped_column(BigInteger)  # 0 unless the platform's key served
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
