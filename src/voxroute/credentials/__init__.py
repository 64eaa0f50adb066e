"""Credential records: metadata in the database, secret fields sealed by the vault."""

from voxroute.credentials.store import CredentialScope, CredentialStore

__all__ = ["CredentialScope", "CredentialStore"]
