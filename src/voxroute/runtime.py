"""The per-process runtime: every long-lived collaborator, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from voxroute.credentials import CredentialStore
from voxroute.providers.catalog import Catalog
from voxroute.routing import KeyResolver, ManagedKeys
from voxroute.settings import Settings
from voxroute.vault import Vault


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    vault: Vault
    catalog: Catalog
    store: CredentialStore
    managed: ManagedKeys
    resolver: KeyResolver
    base_urls: dict[str, str] = field(default_factory=dict)
    # Extension slots filled by the call runtime and billing at start-up.
    extras: dict[str, Any] = field(default_factory=dict)
