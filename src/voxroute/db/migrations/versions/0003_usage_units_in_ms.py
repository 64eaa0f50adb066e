"""Usage units named for what they hold: stt_seconds -> stt_ms, transport_seconds -> transport_ms.

The quantities were always milliseconds; only the unit names change, so every existing row
keeps its meaning (and its idempotency key stays unique: the rename is one-to-one).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 21:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENAMES = (("stt_seconds", "stt_ms"), ("transport_seconds", "transport_ms"))
_RENAME = sa.text("UPDATE usage_records SET unit = :new WHERE unit = :old")


def upgrade() -> None:
    for old, new in RENAMES:
        op.execute(_RENAME.bindparams(old=old, new=new))


def downgrade() -> None:
    for old, new in RENAMES:
        op.execute(_RENAME.bindparams(old=new, new=old))
