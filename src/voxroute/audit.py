"""The audit trail: one helper that every key, BYOK and vault event goes through.

`data` carries ids, providers, stages and statuses only; callers never put secret values
in it. A caller that holds secrets in the same operation passes them as `secrets`, and
`record` refuses a payload that contains any of them (in any common encoding). The check is
against the operation's own secrets, never a process-wide set: what one tenant saved must
not change whether another tenant's audit rows can be written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.db.base import new_id
from voxroute.db.models import AuditEvent
from voxroute.vault.redaction import forms_of


class AuditAction(StrEnum):
    """The closed list of audited actions; the value is what `audit_events.action` stores."""

    CREDENTIAL_CREATED = "credential.created"
    CREDENTIAL_REPLACED = "credential.replaced"
    CREDENTIAL_DELETED = "credential.deleted"
    CREDENTIAL_VALIDATED = "credential.validated"
    CREDENTIAL_USED = "credential.used"
    CREDENTIAL_AUTH_FAILED = "credential.auth_failed"
    BYOK_ENABLED = "byok.enabled"
    BYOK_DISABLED = "byok.disabled"
    BYOK_USE_OWN_KEYS = "byok.use_own_keys"
    FAILURE_POLICY_CHANGED = "byok.failure_policy"
    MASTER_KEY_ROTATED = "vault.master_key_rotated"
    MASTER_KEY_REWRAPPED = "vault.rewrapped"
    ORG_CREATED = "org.created"
    ORG_CALL_LIMIT_CHANGED = "org.call_limit"
    TOKEN_CREATED = "token.created"  # noqa: S105  (an event name)
    TOKEN_REVOKED = "token.revoked"  # noqa: S105  (an event name)
    ASSISTANT_CREATED = "assistant.created"
    ASSISTANT_UPDATED = "assistant.updated"
    ASSISTANT_DELETED = "assistant.deleted"
    NUMBER_CREATED = "phone_number.created"
    NUMBER_UPDATED = "phone_number.updated"
    NUMBER_DELETED = "phone_number.deleted"
    WEBHOOK_REJECTED = "telephony.webhook_rejected"
    CALL_REFUSED = "call.refused"


def record(
    session: AsyncSession,
    *,
    action: AuditAction | str,
    org_id: str | None,
    actor: str = "system",
    target_type: str = "",
    target_id: str = "",
    data: dict[str, Any] | None = None,
    secrets: Iterable[str] = (),
) -> AuditEvent:
    """Add an audit row to the caller's transaction (it commits or rolls back with it)."""
    payload = data or {}
    serialized = json.dumps(payload, default=str, sort_keys=True)
    for secret in secrets:
        if secret and any(form in serialized for form in forms_of(secret)):
            raise ValueError("refusing to write secret material into the audit trail")
    event = AuditEvent(
        id=new_id("evt"),
        org_id=org_id,
        action=str(action),
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        data=payload,
    )
    session.add(event)
    return event
