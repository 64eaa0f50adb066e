"""Assistants: stage configs, their BYO keys (vaulted per assistant), export and import."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.audit import AuditAction, record
from voxroute.credentials import CredentialScope, CredentialStore
from voxroute.db.base import new_id, utcnow
from voxroute.db.models import Assistant, Credential, PhoneNumber
from voxroute.errors import Conflict, InvalidInput, NotFound
from voxroute.providers.catalog import Catalog

STAGE_FIELDS = ("stt_config", "llm_config", "tts_config")
STAGE_OF_FIELD = {"stt_config": "stt", "llm_config": "llm", "tts_config": "tts"}
SCALAR_FIELDS = (
    "name",
    "system_prompt",
    "first_message",
    "failure_policy",
    "max_duration_s",
    "idle_timeout_s",
)


class AssistantService:
    """Assistant CRUD: stage configs checked by the catalog, inline BYO keys moved to the vault."""

    def __init__(self, store: CredentialStore, catalog: Catalog) -> None:
        self._store = store
        self._catalog = catalog

    async def get(self, session: AsyncSession, *, org_id: str, assistant_id: str) -> Assistant:
        assistant = await session.scalar(
            select(Assistant).where(Assistant.org_id == org_id, Assistant.id == assistant_id)
        )
        if assistant is None:
            raise NotFound("assistant not found")
        return assistant

    async def list(
        self, session: AsyncSession, *, org_id: str, limit: int | None = None, offset: int = 0
    ) -> list[Assistant]:
        query = (
            select(Assistant)
            .where(Assistant.org_id == org_id)
            .order_by(Assistant.created_at, Assistant.id)
            .limit(limit)
            .offset(offset)
        )
        return list((await session.scalars(query)).all())

    async def create(
        self, session: AsyncSession, *, org_id: str, data: dict[str, Any], actor: str
    ) -> Assistant:
        configs = {f: self._check_stage(f, data[f]) for f in STAGE_FIELDS}
        assistant = Assistant(
            id=new_id("asst"),
            org_id=org_id,
            **{k: data[k] for k in SCALAR_FIELDS if data.get(k) is not None},
            **{f: _without_keys(c) for f, c in configs.items()},
        )
        session.add(assistant)
        await session.flush()
        for field, config in configs.items():
            await self._apply_keys(session, assistant, field, config, actor=actor)
        record(
            session,
            action=AuditAction.ASSISTANT_CREATED,
            org_id=org_id,
            actor=actor,
            target_type="assistant",
            target_id=assistant.id,
        )
        return assistant

    async def update(
        self, session: AsyncSession, assistant: Assistant, data: dict[str, Any], *, actor: str
    ) -> Assistant:
        for key in SCALAR_FIELDS:
            if key in data:
                setattr(assistant, key, data[key])
        for field in STAGE_FIELDS:
            if data.get(field) is not None:
                config = self._check_stage(field, data[field])
                setattr(
                    assistant, field, _without_keys(config, keep_from=getattr(assistant, field))
                )
                await self._apply_keys(session, assistant, field, config, actor=actor)
        assistant.updated_at = utcnow()
        record(
            session,
            action=AuditAction.ASSISTANT_UPDATED,
            org_id=assistant.org_id,
            actor=actor,
            target_type="assistant",
            target_id=assistant.id,
        )
        return assistant

    async def delete(self, session: AsyncSession, assistant: Assistant, *, actor: str) -> None:
        in_use = await session.scalar(
            select(PhoneNumber.id).where(
                PhoneNumber.org_id == assistant.org_id, PhoneNumber.assistant_id == assistant.id
            )
        )
        if in_use:
            raise Conflict("a phone number still routes to this assistant")
        for cred in await self._store.list(
            session,
            org_id=assistant.org_id,
            scope=CredentialScope.ASSISTANT,
            assistant_id=assistant.id,
        ):
            await self._store.delete(session, cred, actor=actor)
        await session.delete(assistant)
        record(
            session,
            action=AuditAction.ASSISTANT_DELETED,
            org_id=assistant.org_id,
            actor=actor,
            target_type="assistant",
            target_id=assistant.id,
        )

    async def public_view(self, session: AsyncSession, assistant: Assistant) -> dict[str, Any]:
        """The assistant as the API shows it: stage configs with key hints, never keys."""
        creds = await self._store.list(
            session,
            org_id=assistant.org_id,
            scope=CredentialScope.ASSISTANT,
            assistant_id=assistant.id,
        )
        by_provider: dict[str, Credential] = {}
        for cred in creds:
            by_provider.setdefault(cred.provider, cred)
        view: dict[str, Any] = {
            "id": assistant.id,
            "created_at": assistant.created_at,
            "updated_at": assistant.updated_at,
            **{k: getattr(assistant, k) for k in SCALAR_FIELDS},
        }
        for field in STAGE_FIELDS:
            config = dict(getattr(assistant, field) or {})
            providers = config.pop("byo_providers", [])
            config["byo_api_keys"] = {
                p: _key_view(by_provider[p]) for p in providers if p in by_provider
            }
            view[field] = config
        return view

    def export(self, assistant: Assistant) -> dict[str, Any]:
        """A portable definition with no key material and no key ids."""
        return {
            "format": "voxroute.assistant/v1",
            **{k: getattr(assistant, k) for k in SCALAR_FIELDS},
            **{
                f: {k: v for k, v in (getattr(assistant, f) or {}).items() if k != "byo_providers"}
                for f in STAGE_FIELDS
            },
        }

    def _check_stage(self, field: str, config: dict[str, Any]) -> dict[str, Any]:
        """Check provider, model, voice and language against the catalog.

        Each may end up in a provider's URL, so each must have its documented shape.
        """
        provider = str(config.get("provider"))
        stage = STAGE_OF_FIELD[field]
        spec = self._catalog.get(provider)
        if stage not in spec.categories:
            raise InvalidInput(f"{field}: {provider} does not offer {stage}")
        try:
            if config.get("model") is not None:
                self._catalog.check_model(provider, stage, str(config["model"]))
            if config.get("voice_id") is not None:
                self._catalog.check_voice(provider, str(config["voice_id"]))
            if config.get("language") is not None:
                self._catalog.check_language(str(config["language"]))
        except InvalidInput as exc:
            raise InvalidInput(f"{field}: {exc.message}") from None
        keys = config.get("byo_api_keys")
        if keys:
            for key_provider in keys:
                self._catalog.get(key_provider)
        return config

    async def _apply_keys(
        self,
        session: AsyncSession,
        assistant: Assistant,
        field: str,
        config: dict[str, Any],
        *,
        actor: str,
    ) -> None:
        """`byo_api_keys`: absent = unchanged; null or {} = revert; dict = create or replace."""
        if "byo_api_keys" not in config:
            return
        keys: dict[str, dict[str, Any]] | None = config["byo_api_keys"]
        stage_config = dict(getattr(assistant, field) or {})
        previous: list[str] = list(stage_config.get("byo_providers", []))
        wanted = dict(keys or {})
        for provider in previous:
            if provider not in wanted and not self._used_by_other_stage(assistant, field, provider):
                for cred in await self._store.list(
                    session,
                    org_id=assistant.org_id,
                    scope=CredentialScope.ASSISTANT,
                    provider=provider,
                    assistant_id=assistant.id,
                ):
                    await self._store.delete(session, cred, actor=actor)
        for provider, fields in wanted.items():
            existing = await self._store.list(
                session,
                org_id=assistant.org_id,
                scope=CredentialScope.ASSISTANT,
                provider=provider,
                assistant_id=assistant.id,
            )
            if existing:
                await self._store.replace(session, existing[0], fields, actor=actor)
            else:
                await self._store.create(
                    session,
                    org_id=assistant.org_id,
                    provider=provider,
                    values=fields,
                    scope=CredentialScope.ASSISTANT,
                    assistant_id=assistant.id,
                    actor=actor,
                )
        stage_config["byo_providers"] = sorted(wanted)
        setattr(assistant, field, stage_config)

    @staticmethod
    def _used_by_other_stage(assistant: Assistant, field: str, provider: str) -> bool:
        return any(
            provider in (getattr(assistant, other) or {}).get("byo_providers", [])
            for other in STAGE_FIELDS
            if other != field
        )


def _without_keys(
    config: dict[str, Any], keep_from: dict[str, Any] | None = None
) -> dict[str, Any]:
    clean = {k: v for k, v in config.items() if k != "byo_api_keys" and v is not None}
    clean["byo_providers"] = list((keep_from or {}).get("byo_providers", []))
    return clean


def _key_view(cred: Credential) -> dict[str, Any]:
    return {
        "credential_id": cred.id,
        "hint": cred.hint,
        "status": cred.status,
        "version": cred.version,
        **cred.public_fields,
    }
