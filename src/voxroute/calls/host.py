"""What a call needs from the process hosting it: the `CallHost` protocol.

`voxroute.runtime.Runtime` (built once per process by `voxroute.bootstrap`) implements it and
sits on ``app.state.runtime``; telephony routes and call sessions only ever see this
protocol. Everything a hook receives is secret-free except `ResolvedStage.secrets`, which
stays masked (`Secret`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute.db.models import Call, PhoneNumber
from voxroute.routing.types import ResolvedStage, Stage
from voxroute.settings import Settings
from voxroute.usage import UsageEvent
from voxroute.vault.secret import Secret

if TYPE_CHECKING:
    from voxroute.admission import CallAdmission
    from voxroute.calls.registry import CallRegistry
    from voxroute.calls.slots import OrgSlots
    from voxroute.calls.vad_batch import VadBatcher
    from voxroute.providers import ProviderResources
    from voxroute.routing.failures import FailurePlan
    from voxroute.telephony.audio_clock import AudioClock

__all__ = ["CallInfo", "CallReport", "CallHost"]


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Identity of a live call, handed to every hook."""

    call_id: str
    org_id: str
    assistant_id: str | None
    provider_call_id: str
    account_sid: str
    from_number: str = ""
    to_number: str = ""


@dataclass(slots=True)
class CallReport:
    """Everything known about a call when it ends; handed once to `on_call_ended`."""

    call: CallInfo
    end_reason: str
    connected_at: datetime | None
    ended_at: datetime
    duration_s: float
    resolution: list[dict[str, Any]] = field(default_factory=list)
    latency: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)  # unit -> total (`voxroute.usage`)


@runtime_checkable
class CallHost(Protocol):
    """The per-process services a call uses.

    Key resolution, credential health, admission, billing hooks, and the worker's shared
    resources. Hooks called during a call (`record_usage`) must not block; async hooks are
    awaited off the audio path (setup, failure handling, end of call).
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def registry(self) -> CallRegistry: ...

    @property
    def node_id(self) -> str | None:
        """This worker's id in the `nodes` table, recorded on the calls it serves."""
        ...

    @property
    def provider_resources(self) -> ProviderResources:
        """The worker's shared SSL context and HTTP pools for building provider services."""
        ...

    @property
    def org_slots(self) -> OrgSlots:
        """Per-org concurrency slots (in-process, or Redis across nodes)."""
        ...

    @property
    def vad(self) -> VadBatcher:
        """The worker's VAD: Silero for every live call in one batched inference."""
        ...

    @property
    def audio_clock(self) -> AudioClock:
        """The worker's 20 ms clock for every call's outbound audio."""
        ...

    @property
    def admission(self) -> CallAdmission:
        """The one gate every new call passes (role, capacity, credit, org cap)."""
        ...

    async def open_telephony_secret(self, session: AsyncSession, number: PhoneNumber) -> Secret:
        """The carrier secret of the number's org; raise if missing.

        For Twilio, its auth token, from the vault.
        """
        ...

    async def resolve_stages(self, session: AsyncSession, call: Call) -> list[ResolvedStage]:
        """Resolve keys for the call's assistant: one stage each for stt, llm and tts.

        Reads only.
        """
        ...

    async def start_call(
        self, session: AsyncSession, call: Call, stages: Sequence[ResolvedStage]
    ) -> None:
        """Hold the call's credit and mark and audit its keys, as the call is marked connected.

        Runs in the write transaction that marks the call connected; raise `InsufficientCredit`
        to refuse the call.
        """
        ...

    async def next_pool_key(
        self, call: CallInfo, failed: ResolvedStage, reason: str
    ) -> ResolvedStage | None:
        """Another key of the same pool (same provider and scope), or None.

        Puts `failed` in cool-down; None when the pool has no other usable key.
        """
        ...

    async def managed_key(self, call: CallInfo, stage: Stage, reason: str) -> ResolvedStage | None:
        """The platform key for the stage, or None when none is configured.

        Its source is `managed_fallback`, with `fallback_reason=reason`.
        """
        ...

    async def report_credential_failure(
        self, call: CallInfo, stage: ResolvedStage, plan: FailurePlan, detail: str
    ) -> None:
        """Handle a stored credential the provider refused.

        Apply `plan.credential` (mark it invalid, or cool it down), count it and audit an auth
        failure. `detail` is sanitized.
        """
        ...

    def record_usage(self, event: UsageEvent) -> None:
        """Hand one usage event to billing; must return at once (bounded queue)."""
        ...

    async def on_call_ended(self, report: CallReport) -> None:
        """Called exactly once per call, after the pipeline has stopped."""
        ...
