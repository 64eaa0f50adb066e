"""A credential's lifecycle status, stored in `credentials.status`.

Dependency-free so the pure key policy (`routing/policy.py`) can read it without pulling in
the database. Only `CredentialStore` writes it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CredentialStatus"]


class CredentialStatus(StrEnum):
    """Whether key resolution may use a credential: only `active` ones serve calls."""

    ACTIVE = "active"
    # The provider answered 401/403 (at a call or a key check): never used until replaced
    # or a later check succeeds.
    INVALID = "invalid"
    # Switched off by the org's owner.
    DISABLED = "disabled"
