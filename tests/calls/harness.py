"""Test harness: a `CallHost` over the test database, seed data, and a real uvicorn server
running a minimal app with the Twilio router."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voxroute._pipecat import install as install_pipecat_patches
from voxroute.admission import CallAdmission
from voxroute.api.rate_limit import TenantRateLimiter
from voxroute.calls import warm_up
from voxroute.calls.host import CallInfo, CallReport
from voxroute.calls.registry import CallRegistry
from voxroute.calls.session import run_call
from voxroute.calls.slots import InProcessOrgSlots, OrgSlots
from voxroute.calls.vad_batch import VadBatcher
from voxroute.cluster.control import LocalCallControl
from voxroute.db.base import new_id
from voxroute.db.models import Assistant, Call, Organization, PhoneNumber
from voxroute.emulators import EmulatorSuite
from voxroute.errors import KeyNotFound, NotFound
from voxroute.providers import ProviderResources
from voxroute.routing.failures import FailurePlan
from voxroute.routing.types import ResolvedStage, Stage
from voxroute.settings import Settings, load_settings
from voxroute.softphone import CallResult, place_call
from voxroute.telephony.audio_clock import AudioClock
from voxroute.telephony.media_lane import MediaLaneProtocol
from voxroute.telephony.twilio.routes import router
from voxroute.usage import UsageEvent
from voxroute.vault.secret import Secret

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "twilio-test-auth-token-0001"
CARTESIA_VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091"  # the catalog's voice id shape (a UUID)
NUMBER = "+15550001000"
CALLER = "+15557770000"
AUDIO = Path(__file__).parents[1] / "data" / "audio"
HELLO = AUDIO / "utterance-02.ulaw8k.wav"
Factory = async_sessionmaker[AsyncSession]


@dataclass
class Seeded:
    org_id: str
    assistant_id: str
    number_id: str
    number: str = NUMBER


async def seed(
    factory: async_sessionmaker[AsyncSession],
    *,
    number: str = NUMBER,
    account_sid: str = ACCOUNT_SID,
    **assistant: Any,
) -> Seeded:
    org_id, assistant_id, number_id = new_id("org"), new_id("asst"), new_id("pn")
    async with factory() as session:
        session.add(Organization(id=org_id, name="Acme"))
        await session.flush()
        session.add(
            Assistant(
                id=assistant_id,
                org_id=org_id,
                name="Front desk",
                system_prompt=assistant.pop("system_prompt", "You are a helpful receptionist."),
                first_message=assistant.pop("first_message", "Hello, how can I help?"),
                **assistant,
            )
        )
        await session.flush()
        session.add(
            PhoneNumber(
                id=number_id,
                org_id=org_id,
                number=number,
                assistant_id=assistant_id,
                account_sid=account_sid,
            )
        )
        await session.commit()
    return Seeded(org_id, assistant_id, number_id, number)


def stage(
    stage_name: Stage, provider: str, key: str, base_url: str | None, **kw: Any
) -> ResolvedStage:
    model = {"stt": "nova-3-general", "llm": "gpt-4.1-mini", "tts": "sonic-2"}[stage_name]
    return ResolvedStage(
        stage=stage_name,
        provider=provider,
        model=kw.pop("model", model),
        source=kw.pop("source", "organization"),
        secrets={"api_key": Secret(key)},
        credential_id=kw.pop("credential_id", f"cred_{stage_name}_{key[-4:]}"),
        credential_version=1,
        base_url=base_url,
        options=kw.pop("options", {"voice_id": CARTESIA_VOICE} if stage_name == "tts" else {}),
        **kw,
    )


@dataclass
class FakeRuntime:
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    registry: CallRegistry
    provider_resources: ProviderResources
    org_slots: OrgSlots = field(default_factory=InProcessOrgSlots)
    vad: VadBatcher = field(default_factory=VadBatcher)
    audio_clock: AudioClock = field(default_factory=AudioClock)
    # The real gate; needs no credit unless a test says so (`admission_needs_micros`).
    admission_needs_micros: int = 0
    admission: CallAdmission = field(init=False)
    api_rate: TenantRateLimiter = field(
        default_factory=lambda: TenantRateLimiter(per_second=1e6, burst=10**6)
    )
    auth_token: str = AUTH_TOKEN
    node_id: str | None = None
    stages: list[ResolvedStage] = field(default_factory=list)
    pools: dict[Stage, list[ResolvedStage]] = field(default_factory=dict)
    managed: dict[Stage, ResolvedStage] = field(default_factory=dict)
    usage: list[UsageEvent] = field(default_factory=list)
    reports: list[CallReport] = field(default_factory=list)
    credential_failures: list[tuple[str, str | None, str]] = field(default_factory=list)
    fallback_requests: list[tuple[str, str, str]] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    on_report: Callable[[CallReport], None] | None = None
    billing: Any = None  # what the calls API route reads for a cost breakdown

    async def find_call(self, session: AsyncSession, *, org_id: str, call_id: str) -> Call:
        call = await session.scalar(select(Call).where(Call.org_id == org_id, Call.id == call_id))
        if call is None:
            raise NotFound("call not found")
        return call

    @property
    def api_sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.session_factory

    @property
    def call_control(self) -> LocalCallControl:
        return LocalCallControl(self.registry)

    def __post_init__(self) -> None:
        self.admission = CallAdmission(
            registry=self.registry,
            org_slots=self.org_slots,
            needed_micros=self.admission_needs_micros,
            pending_ttl_s=self.settings.call_token_ttl_s + self.settings.org_slot_lease_s,
        )

    async def open_telephony_secret(self, session: AsyncSession, number: PhoneNumber) -> Secret:
        return Secret(self.auth_token)

    async def resolve_stages(self, session: AsyncSession, call: Call) -> list[ResolvedStage]:
        if not self.stages:
            raise KeyNotFound("no stages configured")
        return list(self.stages)

    async def start_call(
        self, session: AsyncSession, call: Call, stages: Sequence[ResolvedStage]
    ) -> None:
        """No billing, no audit: only the connect itself (records.py) is written."""

    async def next_pool_key(
        self, call: CallInfo, failed: ResolvedStage, reason: str
    ) -> ResolvedStage | None:
        self.fallback_requests.append(("pool", failed.stage, reason))
        pool = self.pools.get(failed.stage) or []
        return pool.pop(0) if pool else None

    async def managed_key(self, call: CallInfo, stage: Stage, reason: str) -> ResolvedStage | None:
        self.fallback_requests.append(("managed", stage, reason))
        found = self.managed.get(stage)
        return dataclasses.replace(found, source="managed") if found else None

    async def report_credential_failure(
        self, call: CallInfo, stage: ResolvedStage, plan: FailurePlan, detail: str
    ) -> None:
        self.credential_failures.append((stage.stage, stage.credential_id, plan.category.value))

    def record_usage(self, event: UsageEvent) -> None:
        self.usage.append(event)

    async def on_call_ended(self, report: CallReport) -> None:
        self.reports.append(report)
        self.ended.set()


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def running_server(
    factory: async_sessionmaker[AsyncSession],
    *,
    twilio_api_base_url: str = "",
    max_calls: int = 150,
    org_slots: OrgSlots | None = None,
    routers: tuple[APIRouter, ...] = (),
    runtime_class: type[FakeRuntime] = FakeRuntime,
    ws_protocol: str | type[asyncio.Protocol] = MediaLaneProtocol,
    **settings: Any,
) -> AsyncIterator[tuple[str, FakeRuntime]]:
    """A real uvicorn server on 127.0.0.1 with the Twilio router and a FakeRuntime."""
    install_pipecat_patches()  # as `bootstrap.build_runtime` does for the real runtime
    sock = free_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = load_settings(public_url=base_url, twilio_api_base_url=twilio_api_base_url, **settings)
    registry = CallRegistry(
        max_calls=max_calls,
        loop_lag_limit_ms=config.loop_lag_limit_ms,
        max_concurrent_setups=config.max_concurrent_setups,
    )
    resources = await ProviderResources.create()
    runtime = runtime_class(
        settings=config,
        session_factory=factory,
        registry=registry,
        provider_resources=resources,
        org_slots=org_slots or InProcessOrgSlots(lease_s=config.org_slot_lease_s),
    )
    warm_up()
    await runtime.vad.start()
    await runtime.audio_clock.start()
    app = FastAPI()
    app.include_router(router)
    if routers:
        from voxroute.api.errors import install_error_handlers

        install_error_handlers(app)
        for extra in routers:
            app.include_router(extra, prefix="/api/v1")
    app.state.runtime = runtime
    app.state.call_core = partial(run_call, runtime)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            ws=ws_protocol,
            ws_ping_interval=config.ws_ping_interval_s,
            ws_ping_timeout=config.ws_ping_timeout_s,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    try:
        yield base_url, runtime
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
        await runtime.vad.aclose()
        await runtime.audio_clock.aclose()
        await resources.aclose()


@dataclass
class Env:
    base: str
    runtime: FakeRuntime
    suite: EmulatorSuite
    factory: Factory


ORG_KEYS = {
    "deepgram": "dg-org-key-000001",
    "openai": "sk-org-key-000001",
    "cartesia": "ca-org-key-000001",
}


def default_stages(suite: EmulatorSuite) -> list[ResolvedStage]:
    return [
        stage("stt", "deepgram", ORG_KEYS["deepgram"], suite.base_urls["deepgram"]),
        stage("llm", "openai", ORG_KEYS["openai"], suite.base_urls["openai"]),
        stage("tts", "cartesia", ORG_KEYS["cartesia"], suite.base_urls["cartesia"]),
    ]


FAST = {"pause_s": 0.0, "quiet_s": 0.5, "initial_wait_s": 0.2}


async def call(env: Env, wavs: list[Path], **options: object) -> CallResult:
    """One softphone call; returns once the session reported its end."""
    options = {**FAST, **options}
    result = await place_call(env.base, NUMBER, CALLER, ACCOUNT_SID, AUTH_TOKEN, wavs, **options)
    await asyncio.wait_for(env.runtime.ended.wait(), 15)
    return result


async def stored_call(env: Env, call_id: str | None = None) -> Call:
    async with env.factory() as s:
        query = select(Call) if call_id is None else select(Call).where(Call.id == call_id)
        return (await s.execute(query)).scalar_one()


async def ended_call(env: Env, call_id: str | None = None, within_s: float = 10.0) -> Call:
    """The stored call once its end is written (the socket may close just before that)."""
    for _ in range(int(within_s / 0.05)):
        stored = await stored_call(env, call_id)
        if stored.status == "ended":
            return stored
        await asyncio.sleep(0.05)
    return await stored_call(env, call_id)
