"""Credential records: metadata in the database, secret fields sealed by the vault."""

from voxroute.credentials.status import CredentialStatus
from voxroute.credentials.store import CredentialScope, CredentialStore

__all__ = ["CredentialScope", "CredentialStatus", "CredentialStore"]
