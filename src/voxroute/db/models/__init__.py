"""All tables; importing this module registers them on `Base.metadata` (Alembic needs that)."""

from voxroute.db.models.assistants import Assistant, PhoneNumber
from voxroute.db.models.audit import AuditEvent
from voxroute.db.models.billing import CreditAccount, LedgerEntry, Reservation, UsageRecord
from voxroute.db.models.calls import Call
from voxroute.db.models.credentials import Credential, CredentialSecret
from voxroute.db.models.nodes import Node
from voxroute.db.models.tenancy import ApiToken, Organization

__all__ = [
    "ApiToken",
    "Assistant",
    "AuditEvent",
    "Call",
    "Credential",
    "CredentialSecret",
    "CreditAccount",
    "LedgerEntry",
    "Node",
    "Organization",
    "PhoneNumber",
    "Reservation",
    "UsageRecord",
]
