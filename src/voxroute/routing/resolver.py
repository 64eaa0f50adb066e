"""Resolve every stage of a call to provider, model and decrypted key (see policy.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.credentials import CredentialScope, CredentialStatus, CredentialStore
from voxroute.db.base import utcnow
from voxroute.db.models import Assistant, Credential, Organization
from voxroute.errors import InvalidInput, KeyNotFound
from voxroute.providers.catalog import Catalog
from voxroute.routing.policy import Candidate, Decision, decide, effective_policy
from voxroute.routing.types import STAGES, KeySource, ResolvedStage, Stage
from voxroute.vault.secret import Secret

MANAGED = Candidate(source="managed", credential_id=None, version=None)


class ManagedKeys:
    """The platform's own provider keys, from settings; never from the process environment."""

    def __init__(self, keys: Mapping[str, Mapping[str, Any]], catalog: Catalog) -> None:
        self._secrets: dict[str, dict[str, Secret]] = {}
        self._public: dict[str, dict[str, str]] = {}
        for provider, fields in keys.items():
            spec = catalog.get(provider)
            values = {name: _plain(value) for name, value in fields.items()}
            secret, public = spec.split_fields(values)
            self._secrets[provider] = {name: Secret(value) for name, value in secret.items()}
            self._public[provider] = public

    def __contains__(self, provider: object) -> bool:
        return provider in self._secrets

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def secrets(self, provider: str) -> dict[str, Secret]:
        return dict(self._secrets[provider])

    def public(self, provider: str) -> dict[str, str]:
        return dict(self._public[provider])


def _plain(value: Any) -> str:
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if callable(reveal) else value)


def stage_config(assistant: Assistant, stage: Stage) -> dict[str, Any]:
    """The assistant's config of one stage (provider, model, options); `{}` if unset."""
    config: dict[str, Any] = {
        "stt": assistant.stt_config,
        "llm": assistant.llm_config,
        "tts": assistant.tts_config,
    }[stage]
    return config or {}


def _model(catalog: Catalog, provider: str, stage: Stage, config: dict[str, Any]) -> str:
    return str(config.get("model") or catalog.get(provider).default_model(stage))


def _options(config: dict[str, Any]) -> dict[str, Any]:
    """Stage options for the adapters (voice, language, …): everything but identity fields."""
    return {k: v for k, v in config.items() if k not in ("provider", "model", "byo_providers")}


def _candidate(credential: Credential) -> Candidate:
    source: KeySource = (
        "assistant" if credential.scope == CredentialScope.ASSISTANT.value else "organization"
    )
    return Candidate(
        source=source,
        credential_id=credential.id,
        version=credential.version,
        priority=credential.priority,
        status=CredentialStatus(credential.status),
        cooldown_until=credential.cooldown_until,
    )


class KeyResolver:
    """Gathers candidates from the database, applies `policy.decide`, decrypts the winner."""

    def __init__(
        self,
        *,
        store: CredentialStore,
        catalog: Catalog,
        managed: ManagedKeys,
        base_urls: Mapping[str, str],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._managed = managed
        self._base_urls = dict(base_urls)

    def set_base_urls(self, base_urls: Mapping[str, str]) -> None:
        self._base_urls = dict(base_urls)

    async def resolve(
        self, session: AsyncSession, *, org: Organization, assistant: Assistant
    ) -> list[ResolvedStage]:
        """Resolve stt, llm and tts independently; raise KeyNotFound naming the stage.

        The candidate keys of all three stages come from one query: a call's set-up reads
        the credentials table once, not once per stage and scope.
        """
        keys = await self._store.candidates(session, org_id=org.id, assistant_id=assistant.id)
        return [
            await self.resolve_stage(session, org=org, assistant=assistant, stage=stage, keys=keys)
            for stage in STAGES
        ]

    async def resolve_stage(
        self,
        session: AsyncSession,
        *,
        org: Organization,
        assistant: Assistant,
        stage: Stage,
        exclude: frozenset[str] = frozenset(),
        now: datetime | None = None,
        keys: Sequence[Credential] | None = None,
    ) -> ResolvedStage:
        """Pick the key (assistant's, org's or managed) and model for one stage of a call.

        `keys`: the call's candidate keys (`CredentialStore.candidates`), or None to read them
        here; keys in `exclude` (ones that already failed this call) are skipped.
        """
        config = stage_config(assistant, stage)
        provider = config.get("provider")
        if not isinstance(provider, str) or not provider:
            raise KeyNotFound(f"{stage}: the assistant names no provider")
        spec = self._catalog.get(provider)
        if stage not in spec.categories:
            raise InvalidInput(f"{provider} does not offer {stage}")
        if keys is None:
            keys = await self._store.candidates(session, org_id=org.id, assistant_id=assistant.id)
        usable = [c for c in keys if c.provider == provider and c.id not in exclude]
        assistant_keys = [
            _candidate(c) for c in usable if c.scope == CredentialScope.ASSISTANT.value
        ]
        org_keys: list[Candidate] = []
        if org.byok_enabled and org.use_own_keys:
            org_keys = [
                _candidate(c) for c in usable if c.scope == CredentialScope.ORGANIZATION.value
            ]
        decision = decide(
            stage=stage,
            provider=provider,
            assistant_keys=assistant_keys,
            org_keys=org_keys,
            managed=MANAGED if provider in self._managed else None,
            policy=effective_policy(assistant.failure_policy, org.failure_policy),
            now=now or utcnow(),
        )
        chosen = next((c for c in usable if c.id == decision.candidate.credential_id), None)
        return await self._materialize(session, stage, provider, config, decision, chosen)

    def managed_fallback(self, assistant: Assistant, stage: Stage, reason: str) -> ResolvedStage:
        """The stage on the platform key, after a BYO key hit a rate limit or quota."""
        config = stage_config(assistant, stage)
        provider = str(config.get("provider", ""))
        if provider not in self._managed:
            raise KeyNotFound(f"{stage}: no managed key for {provider}")
        return ResolvedStage(
            stage=stage,
            provider=provider,
            model=_model(self._catalog, provider, stage, config),
            source="managed_fallback",
            secrets=self._managed.secrets(provider),
            public_fields=self._managed.public(provider),
            base_url=self._base_urls.get(provider),
            options=_options(config),
            fallback_reason=reason,
        )

    async def _materialize(
        self,
        session: AsyncSession,
        stage: Stage,
        provider: str,
        config: dict[str, Any],
        decision: Decision,
        credential: Credential | None,
    ) -> ResolvedStage:
        candidate = decision.candidate
        if candidate.credential_id is None:
            secrets = self._managed.secrets(provider)
            public = self._managed.public(provider)
        else:
            if credential is None:
                raise KeyNotFound(f"{stage}: credential disappeared during resolution")
            secrets = await self._store.open(session, credential)
            if not secrets:  # deleted since it was listed: its secrets went with it
                raise KeyNotFound(f"{stage}: credential disappeared during resolution")
            public = {k: str(v) for k, v in credential.public_fields.items()}
        return ResolvedStage(
            stage=stage,
            provider=provider,
            model=_model(self._catalog, provider, stage, config),
            source=decision.source,
            secrets=secrets,
            credential_id=candidate.credential_id,
            credential_version=candidate.version,
            public_fields=public,
            base_url=self._base_urls.get(provider),
            options=_options(config),
            fallback_reason=decision.fallback_reason,
        )
