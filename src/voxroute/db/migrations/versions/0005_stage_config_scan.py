"""Stage configs: drop fields the API no longer accepts; refuse plaintext keys until scrubbed.

See `voxroute.db.stage_config_scan` for why key-shaped values stop the migration rather than
being moved into the vault.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 21:30:00
"""

import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

import voxroute.db.base
from voxroute.db.stage_config_scan import STAGE_COLUMNS, PlaintextKeysFound, scan_stage

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("voxroute.migrations")

_assistants = sa.table(
    "assistants",
    sa.column("id", sa.String),
    sa.column("org_id", sa.String),
    *(sa.column(c, sa.JSON) for c in STAGE_COLUMNS),
)
_audit = sa.table(
    "audit_events",
    sa.column("id", sa.String),
    sa.column("org_id", sa.String),
    sa.column("action", sa.String),
    sa.column("actor", sa.String),
    sa.column("target_type", sa.String),
    sa.column("target_id", sa.String),
    sa.column("data", sa.JSON),
    sa.column("created_at", voxroute.db.base.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    scrub = bool(context.config.attributes.get("scrub_plaintext_keys", False))
    bind = op.get_bind()
    rows = bind.execute(sa.select(_assistants)).mappings().all()
    findings: dict[str, list[str]] = {}
    updates: list[tuple[str, str, dict[str, object], list[str], list[str]]] = []
    for row in rows:
        changed: dict[str, object] = {}
        dropped: list[str] = []
        keys: list[str] = []
        for column in STAGE_COLUMNS:
            scan = scan_stage(column, row[column])
            if scan.dropped or scan.keys or scan.clean != (row[column] or {}):
                changed[column] = scan.clean
            dropped += scan.dropped
            keys += scan.keys
        if keys:
            findings[row["id"]] = keys
        if changed:
            updates.append((row["id"], row["org_id"], changed, dropped, keys))
    if findings and not scrub:
        raise PlaintextKeysFound(findings)
    for assistant_id, org_id, changed, dropped, keys in updates:
        bind.execute(_assistants.update().where(_assistants.c.id == assistant_id).values(changed))
        if dropped:
            log.warning(
                "assistant %s: dropped unknown stage-config fields %s", assistant_id, dropped
            )
        if keys:
            bind.execute(
                _audit.insert().values(
                    id=f"evt_{secrets.token_hex(12)}",
                    org_id=org_id,
                    action="assistant.plaintext_key_removed",
                    actor="system:migration",
                    target_type="assistant",
                    target_id=assistant_id,
                    data={"fields": keys, "advice": "revoke these keys at the provider"},
                    created_at=datetime.now(UTC),
                )
            )


def downgrade() -> None:
    """Nothing to restore: dropped fields were never read, and keys must stay deleted."""
