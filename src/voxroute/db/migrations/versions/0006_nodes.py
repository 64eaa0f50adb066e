"""Nodes: each worker's heartbeat (id, address, version, live calls, loop lag, draining).

`calls.node_id` (already there) names the worker serving a call; a worker whose heartbeat
stops has its calls found, settled by the sweeper and hung up at the carrier.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxroute.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = voxroute.db.base.UTCDateTime(timezone=True)
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("live_calls", sa.Integer(), nullable=False),
        sa.Column("loop_lag_ms", sa.Float(), nullable=False),
        sa.Column("draining", sa.Boolean(), nullable=False),
        sa.Column("started_at", utc, nullable=False),
        sa.Column("heartbeat_at", utc, nullable=False),
        sa.Column("stopped_at", utc, nullable=True),
        sa.Column("reaped_at", utc, nullable=True),
    )
    op.create_index("ix_nodes_heartbeat", "nodes", ["heartbeat_at"])
    op.create_index("ix_calls_node_status", "calls", ["node_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_calls_node_status", table_name="calls")
    op.drop_index("ix_nodes_heartbeat", table_name="nodes")
    op.drop_table("nodes")
