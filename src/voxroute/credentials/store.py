"""Create, replace, delete and open provider credentials. Secrets are write-only.

A credential's metadata (provider, public fields, hint, status, timestamps) lives in
`credentials`; each secret field is sealed separately in `credential_secrets` with AAD bound
to (org, credential, provider, field, version), so a row moved anywhere else fails to open.
Replacing bumps the version and deletes the old sealed rows in the same transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.audit import AuditAction, record
from voxroute.credentials.status import CredentialStatus
from voxroute.db.base import new_id, utcnow
from voxroute.db.models import Credential, CredentialSecret
from voxroute.errors import NotFound
from voxroute.providers.catalog import Catalog
from voxroute.vault import SecretContext, Vault
from voxroute.vault.secret import Secret

TELEPHONY_FIELDS = ("auth_token",)
TELEPHONY_PROVIDERS = ("twilio",)
# How long a key the provider rate-limited is skipped by key resolution.
RATE_LIMIT_COOL_DOWN = timedelta(seconds=60)
# `last_error` is shown to the owner; a provider's text beyond this says nothing more.
LAST_ERROR_MAX_CHARS = 500


class CredentialScope(StrEnum):
    """Whose key it is: the org's, one assistant's, or telephony (a number's Twilio auth token)."""

    ORGANIZATION = "organization"
    ASSISTANT = "assistant"
    TELEPHONY = "telephony"


def _hint(secret_values: dict[str, str]) -> str | None:
    primary = next(iter(secret_values.values()), "")
    return Secret(primary).hint


# Every listing of keys: by provider, then highest priority, then oldest first.
_LISTING_ORDER = (Credential.provider, Credential.priority.desc(), Credential.created_at)
# The call set-up's two statements, built once: building one per call costs more CPU than
# running it.
_CANDIDATES = (
    select(Credential)
    .where(
        Credential.org_id == bindparam("org_id"),
        or_(
            Credential.scope == CredentialScope.ORGANIZATION.value,
            and_(
                Credential.scope == CredentialScope.ASSISTANT.value,
                Credential.assistant_id == bindparam("assistant_id"),
            ),
        ),
    )
    .order_by(*_LISTING_ORDER)
)
_WITH_SECRETS = (
    select(Credential, CredentialSecret)
    .outerjoin(
        CredentialSecret,
        and_(
            CredentialSecret.org_id == Credential.org_id,
            CredentialSecret.credential_id == Credential.id,
        ),
    )
    .where(Credential.org_id == bindparam("org_id"), Credential.id == bindparam("credential_id"))
)


class CredentialStore:
    """The only code that writes `credentials` / `credential_secrets` rows."""

    def __init__(self, vault: Vault, catalog: Catalog) -> None:
        self._vault = vault
        self._catalog = catalog

    def validate(
        self, provider: str, values: dict[str, Any]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Format-check submitted fields against the catalog; returns (secret, public)."""
        if provider in TELEPHONY_PROVIDERS:
            return self._catalog.carrier(provider).split_fields(values)
        return self._catalog.get(provider).split_fields(values)

    async def create(
        self,
        session: AsyncSession,
        *,
        org_id: str,
        provider: str,
        values: dict[str, Any],
        scope: CredentialScope,
        actor: str,
        assistant_id: str | None = None,
        label: str = "default",
        priority: int = 0,
    ) -> Credential:
        secret, public = self.validate(provider, values)
        credential = Credential(
            id=new_id("cred"),
            org_id=org_id,
            scope=scope.value,
            assistant_id=assistant_id,
            provider=provider,
            label=label,
            priority=priority,
            status=CredentialStatus.ACTIVE.value,
            public_fields=public,
            hint=_hint(secret),
            version=1,
        )
        session.add(credential)
        await session.flush()
        await self._seal_fields(session, credential, secret)
        record(
            session,
            action=AuditAction.CREDENTIAL_CREATED,
            org_id=org_id,
            actor=actor,
            target_type="credential",
            target_id=credential.id,
            data=self._audit_data(credential),
            secrets=secret.values(),
        )
        return credential

    async def replace(
        self, session: AsyncSession, credential: Credential, values: dict[str, Any], *, actor: str
    ) -> Credential:
        """New secret, new version; the old ciphertext rows are deleted, not kept."""
        secret, public = self.validate(credential.provider, values)
        await session.execute(
            delete(CredentialSecret).where(
                CredentialSecret.org_id == credential.org_id,
                CredentialSecret.credential_id == credential.id,
            )
        )
        credential.version += 1
        credential.public_fields = public
        credential.hint = _hint(secret)
        credential.status = CredentialStatus.ACTIVE.value
        credential.validation_status = None
        credential.last_error = None
        credential.last_validated_at = None
        credential.cooldown_until = None
        credential.updated_at = utcnow()
        await self._seal_fields(session, credential, secret)
        record(
            session,
            action=AuditAction.CREDENTIAL_REPLACED,
            org_id=credential.org_id,
            actor=actor,
            target_type="credential",
            target_id=credential.id,
            data=self._audit_data(credential),
            secrets=secret.values(),
        )
        return credential

    async def delete(self, session: AsyncSession, credential: Credential, *, actor: str) -> None:
        """Permanently destroy the credential and its ciphertext."""
        data = self._audit_data(credential)
        await session.execute(
            delete(CredentialSecret).where(
                CredentialSecret.org_id == credential.org_id,
                CredentialSecret.credential_id == credential.id,
            )
        )
        await session.delete(credential)
        await session.flush()
        record(
            session,
            action=AuditAction.CREDENTIAL_DELETED,
            org_id=credential.org_id,
            actor=actor,
            target_type="credential",
            target_id=credential.id,
            data=data,
        )

    # --- status: the only writes of `status`, `cooldown_until`, `validation_status` -------

    @staticmethod
    def set_status(credential: Credential, status: CredentialStatus) -> None:
        """The owner switched the key on or off."""
        credential.status = status.value

    @staticmethod
    def record_check(credential: Credential, outcome: str, message: str | None) -> None:
        """Store a key check's outcome (`ok` | `invalid` | `error`) and move the key's status.

        A rejected key becomes invalid, an invalid key that passes again becomes active; a
        disabled key stays off.
        """
        credential.last_validated_at = utcnow()
        credential.validation_status = outcome
        credential.last_error = None if outcome == "ok" else message
        if outcome == "invalid":
            credential.status = CredentialStatus.INVALID.value
        elif outcome == "ok" and credential.status == CredentialStatus.INVALID.value:
            credential.status = CredentialStatus.ACTIVE.value

    @staticmethod
    async def cool_down(
        session: AsyncSession,
        *,
        org_id: str,
        credential_id: str,
        period: timedelta = RATE_LIMIT_COOL_DOWN,
    ) -> None:
        """Skip the key for `period`: the provider rate-limited it or its quota ran out."""
        await session.execute(
            update(Credential)
            .where(Credential.org_id == org_id, Credential.id == credential_id)
            .values(cooldown_until=utcnow() + period)
        )

    @staticmethod
    async def mark_invalid(
        session: AsyncSession, *, org_id: str, credential_id: str, detail: str
    ) -> None:
        """The provider rejected the key (401/403) during a call; `detail` is sanitized."""
        await session.execute(
            update(Credential)
            .where(Credential.org_id == org_id, Credential.id == credential_id)
            .values(
                status=CredentialStatus.INVALID.value,
                validation_status="invalid",
                last_error=detail[:LAST_ERROR_MAX_CHARS],
            )
        )

    @staticmethod
    async def mark_used(
        session: AsyncSession, *, org_id: str, credential_ids: Collection[str]
    ) -> None:
        """Stamp `last_used_at` on the keys a call starts with."""
        if credential_ids:
            await session.execute(
                update(Credential)
                .where(Credential.org_id == org_id, Credential.id.in_(credential_ids))
                .values(last_used_at=utcnow())
            )

    async def get(self, session: AsyncSession, *, org_id: str, credential_id: str) -> Credential:
        credential = await session.scalar(
            select(Credential).where(Credential.org_id == org_id, Credential.id == credential_id)
        )
        if credential is None:
            raise NotFound("credential not found")
        return credential

    async def candidates(
        self, session: AsyncSession, *, org_id: str, assistant_id: str
    ) -> list[Credential]:
        """Every key this assistant's calls could use (its own, the org's), in `_LISTING_ORDER`."""
        params = {"org_id": org_id, "assistant_id": assistant_id}
        return list((await session.scalars(_CANDIDATES, params)).all())

    async def list(
        self,
        session: AsyncSession,
        *,
        org_id: str,
        scope: CredentialScope | None = None,
        provider: str | None = None,
        assistant_id: str | None = None,
        exclude_scope: CredentialScope | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Credential]:
        query = select(Credential).where(Credential.org_id == org_id)
        if scope is not None:
            query = query.where(Credential.scope == scope.value)
        if exclude_scope is not None:
            query = query.where(Credential.scope != exclude_scope.value)
        if provider is not None:
            query = query.where(Credential.provider == provider)
        if assistant_id is not None:
            query = query.where(Credential.assistant_id == assistant_id)
        query = query.order_by(*_LISTING_ORDER, Credential.id).limit(limit).offset(offset)
        return list((await session.scalars(query)).all())

    async def open(self, session: AsyncSession, credential: Credential) -> dict[str, Secret]:
        """Decrypt every secret field of the credential's current version."""
        rows = await session.scalars(
            select(CredentialSecret).where(
                CredentialSecret.org_id == credential.org_id,
                CredentialSecret.credential_id == credential.id,
            )
        )
        return {row.field: await self._open_field(credential, row) for row in rows}

    async def open_by_id(
        self, session: AsyncSession, *, org_id: str, credential_id: str
    ) -> dict[str, Secret]:
        """`get` and `open` in one statement (a call's set-up path pays per round trip)."""
        params = {"org_id": org_id, "credential_id": credential_id}
        rows = (await session.execute(_WITH_SECRETS, params)).all()
        if not rows:
            raise NotFound("credential not found")
        return {
            row.field: await self._open_field(credential, row)
            for credential, row in rows
            if row is not None
        }

    async def _open_field(self, credential: Credential, row: CredentialSecret) -> Secret:
        return await self._vault.open(row.ciphertext, self._context(credential, row.field))

    async def _seal_fields(
        self, session: AsyncSession, credential: Credential, secret: dict[str, str]
    ) -> None:
        for field, value in secret.items():
            sealed = await self._vault.seal(Secret(value), self._context(credential, field))
            session.add(
                CredentialSecret(
                    org_id=credential.org_id,
                    credential_id=credential.id,
                    credential_version=credential.version,
                    field=field,
                    ciphertext=sealed.blob,
                    master_key_id=sealed.master_key_id,
                    master_key_version=sealed.master_key_version,
                )
            )
        await session.flush()

    @staticmethod
    def _context(credential: Credential, field: str) -> SecretContext:
        return SecretContext(
            org_id=credential.org_id,
            credential_id=credential.id,
            provider=credential.provider,
            field=field,
            credential_version=credential.version,
        )

    @staticmethod
    def _audit_data(credential: Credential) -> dict[str, Any]:
        return {
            "provider": credential.provider,
            "scope": credential.scope,
            "assistant_id": credential.assistant_id,
            "label": credential.label,
            "version": credential.version,
        }
