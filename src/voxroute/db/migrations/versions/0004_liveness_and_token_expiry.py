"""Add reservations.alive_at (call liveness) and api_tokens.expires_at (token expiry).

`alive_at` is when the serving worker last saw the call alive; `expires_at` is optional.
A call whose worker dies is charged its connected time up to `alive_at` by the sweeper
(before, only a normal end recorded connected time, so such a call paid no platform fee).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxroute.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.add_column(
            sa.Column("alive_at", voxroute.db.base.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(
            sa.Column("expires_at", voxroute.db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("reservations") as batch:
        batch.drop_column("alive_at")
