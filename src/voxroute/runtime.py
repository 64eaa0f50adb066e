"""The per-process runtime: every long-lived collaborator, built once by `voxroute.bootstrap`.

`Runtime` is also the `CallHost` the telephony routes and call sessions use: key
resolution, credential health and billing hooks all go through here, off the audio path.
The SQL behind them lives with the tables' owners (`CredentialStore`, `billing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from voxroute.audit import AuditAction, record
from voxroute.calls.host import CallInfo, CallReport
from voxroute.calls.registry import CallRegistry
from voxroute.credentials import CredentialStore
from voxroute.db.models import Assistant, Call, Organization, PhoneNumber
from voxroute.db.transactions import run_write
from voxroute.errors import KeyNotFound, NotFound
from voxroute.metrics import Metrics
from voxroute.providers.catalog import Catalog
from voxroute.routing import KeyResolver, ManagedKeys
from voxroute.routing.failures import CredentialEffect, FailurePlan
from voxroute.routing.types import ResolvedStage, Stage
from voxroute.settings import Settings
from voxroute.telephony.twilio.numbers import TWILIO_API_BASE_URL
from voxroute.telephony.twilio.rest_hangup import complete_call
from voxroute.usage import UsageEvent
from voxroute.vault import Vault
from voxroute.vault.secret import Secret

if TYPE_CHECKING:
    import aiohttp

    from voxroute.admission import CallAdmission
    from voxroute.api.rate_limit import TenantRateLimiter
    from voxroute.billing.metering import Metering
    from voxroute.calls.slots import OrgSlots
    from voxroute.calls.vad_batch import VadBatcher
    from voxroute.cluster.control import CallControl
    from voxroute.cluster.reaper import LostCall
    from voxroute.credentials.checks import KeyChecker
    from voxroute.demo import DemoInfo
    from voxroute.drain import Drain
    from voxroute.emulators import EmulatorSuite
    from voxroute.providers import ProviderResources
    from voxroute.telephony.audio_clock import AudioClock


@dataclass(frozen=True, slots=True)
class Runtime:
    """Every long-lived collaborator of one process, built at once by `voxroute.bootstrap`.

    `emulators` and `demo` exist only in the embedded default (None otherwise); nothing is
    filled in after construction.
    """

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    # REST API requests only: a pool of their own, so they never starve calls and webhooks.
    api_sessions: async_sessionmaker[AsyncSession]
    vault: Vault
    catalog: Catalog
    store: CredentialStore
    managed: ManagedKeys
    resolver: KeyResolver
    registry: CallRegistry
    # SIGTERM → draining (readiness false, new calls refused); see voxroute.drain.
    drain: Drain
    # This worker's id in the `nodes` table and on the calls it serves (`calls.node_id`).
    node_id: str
    # Hang-ups that reach a call on whichever worker or node holds it.
    call_control: CallControl
    # One per worker process, shared by every call's provider services.
    provider_resources: ProviderResources
    # Per-org concurrency slots (Redis when settings.redis_url is set).
    org_slots: OrgSlots
    # One batched VAD per worker process.
    vad: VadBatcher
    audio_clock: AudioClock
    admission: CallAdmission
    api_rate: TenantRateLimiter
    billing: Metering
    key_checker: KeyChecker
    metrics: Metrics
    # Shared HTTP session for requests a tenant's API call makes (e.g. carrier number checks).
    http_session: aiohttp.ClientSession
    emulators: EmulatorSuite | None
    demo: DemoInfo | None

    # --- CallHost -------------------------------------------------------------------

    async def open_telephony_secret(self, session: AsyncSession, number: PhoneNumber) -> Secret:
        if not number.credential_id:
            raise KeyNotFound("the number has no telephony credentials")
        secret = await self.store.open_by_id(
            session, org_id=number.org_id, credential_id=number.credential_id
        )
        return secret["auth_token"]

    async def _org_assistant(
        self, session: AsyncSession, call: Call | CallInfo
    ) -> tuple[Organization, Assistant]:
        org = await session.get(Organization, call.org_id)
        assistant = await session.get(Assistant, call.assistant_id) if call.assistant_id else None
        if org is None or assistant is None or assistant.org_id != org.id:
            raise NotFound("the call's assistant is gone")
        return org, assistant

    async def resolve_stages(self, session: AsyncSession, call: Call) -> list[ResolvedStage]:
        org, assistant = await self._org_assistant(session, call)
        stages = await self.resolver.resolve(session, org=org, assistant=assistant)
        self.metrics.stages_resolved(stages)
        return stages

    async def start_call(
        self, session: AsyncSession, call: Call, stages: Sequence[ResolvedStage]
    ) -> None:
        # Credit is held before any provider is touched; InsufficientCredit refuses the call.
        await self.billing.hold_call(session, org_id=call.org_id, call_id=call.id)
        used = [stage.credential_id for stage in stages if stage.credential_id]
        await self.store.mark_used(session, org_id=call.org_id, credential_ids=used)
        for stage in stages:
            _audit_key_use(session, call.org_id, call.id, stage)

    async def next_pool_key(
        self, call: CallInfo, failed: ResolvedStage, reason: str
    ) -> ResolvedStage | None:
        if failed.credential_id is None:
            return None
        failed_id = failed.credential_id

        async def failover(session: AsyncSession) -> ResolvedStage | None:
            await self.store.cool_down(session, org_id=call.org_id, credential_id=failed_id)
            org, assistant = await self._org_assistant(session, call)
            try:
                stage = await self.resolver.resolve_stage(
                    session,
                    org=org,
                    assistant=assistant,
                    stage=failed.stage,
                    exclude=frozenset({failed_id}),
                )
            except KeyNotFound:
                return None
            if stage.source != failed.source or stage.credential_id is None:
                return None
            _audit_key_use(session, org.id, call.call_id, stage, pool_failover_from=failed_id)
            return stage

        return await run_write(self.session_factory, failover)

    async def managed_key(self, call: CallInfo, stage: Stage, reason: str) -> ResolvedStage | None:
        async def fall_back(session: AsyncSession) -> ResolvedStage | None:
            org, assistant = await self._org_assistant(session, call)
            try:
                fallback = self.resolver.managed_fallback(assistant, stage, reason)
            except KeyNotFound:
                return None
            _audit_key_use(session, org.id, call.call_id, fallback, fallback_reason=reason)
            return fallback

        return await run_write(self.session_factory, fall_back)

    async def report_credential_failure(
        self, call: CallInfo, stage: ResolvedStage, plan: FailurePlan, detail: str
    ) -> None:
        credential_id = stage.credential_id
        if credential_id is None or plan.credential is CredentialEffect.NONE:
            return
        self.metrics.credential_failed(stage, plan.category.value)

        async def mark(session: AsyncSession) -> None:
            if plan.credential is CredentialEffect.COOL_DOWN:
                await self.store.cool_down(session, org_id=call.org_id, credential_id=credential_id)
                return
            await self.store.mark_invalid(
                session, org_id=call.org_id, credential_id=credential_id, detail=detail
            )
            _audit_key_use(
                session,
                call.org_id,
                call.call_id,
                stage,
                action=AuditAction.CREDENTIAL_AUTH_FAILED,
                category=plan.category.value,
            )

        await run_write(self.session_factory, mark)

    def record_usage(self, event: UsageEvent) -> None:
        self.billing.record_usage(event)

    async def on_call_ended(self, report: CallReport) -> None:
        self.metrics.call_ended(report)
        await self.billing.settle_call(
            org_id=report.call.org_id,
            call_id=report.call.call_id,
            connected_at=report.connected_at,
            duration_s=report.duration_s,
        )

    async def hang_up_at_carrier(self, call: LostCall) -> bool:
        """End the carrier's leg of a call whose worker died (Twilio REST)."""
        if call.telephony_provider != "twilio" or call.phone_number_id is None:
            return True  # a web call has no carrier leg
        async with self.session_factory() as session:
            number = await session.get(PhoneNumber, call.phone_number_id)
            if number is None or not number.account_sid:
                return False
            token = await self.open_telephony_secret(session, number)
        return await complete_call(
            self.http_session,
            account_sid=number.account_sid,
            call_sid=call.provider_call_id,
            auth_token=token,
            api_base_url=self.settings.twilio_api_base_url or TWILIO_API_BASE_URL,
        )

    async def find_call(self, session: AsyncSession, *, org_id: str, call_id: str) -> Call:
        call = await session.scalar(select(Call).where(Call.org_id == org_id, Call.id == call_id))
        if call is None:
            raise NotFound("call not found")
        return call


def _audit_key_use(
    session: AsyncSession,
    org_id: str,
    call_id: str,
    stage: ResolvedStage,
    *,
    action: AuditAction = AuditAction.CREDENTIAL_USED,
    **extra: str | None,
) -> None:
    """One audit row per key a call used (or that failed at the provider); never a secret."""
    record(
        session,
        action=action,
        org_id=org_id,
        actor=f"call:{call_id}",
        target_type="credential",
        target_id=stage.credential_id or "managed",
        data={
            "call_id": call_id,
            "stage": stage.stage,
            "provider": stage.provider,
            "source": stage.source,
            "credential_version": stage.credential_version,
            **extra,
        },
    )
