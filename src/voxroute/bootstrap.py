"""Builds the per-process runtime once, fully: the app's lifespan and the CLI share it.

`build_runtime` opens every collaborator in order (closing them in reverse) and only then
constructs `Runtime`, so no field is filled in later. `prepare_database` is the part the
`voxroute serve` parent runs once for all its workers (migrate, create or reuse the demo
organisation); `build_runtime` runs it too, so a single process needs nothing else.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from voxroute._pipecat import install as install_pipecat_patches
from voxroute.admission import CallAdmission
from voxroute.api.rate_limit import TenantRateLimiter
from voxroute.billing import BillingPolicy, topup
from voxroute.billing.metering import Metering
from voxroute.calls import warm_up
from voxroute.calls.registry import CallRegistry
from voxroute.calls.slots import create_org_slots
from voxroute.calls.state import EndReason
from voxroute.cluster.control import create_call_control
from voxroute.cluster.nodes import NodeHeartbeat, NodeIdentity, NodeStatus
from voxroute.cluster.reaper import NodeReaper
from voxroute.credentials import CredentialStore
from voxroute.credentials.checks import KeyChecker
from voxroute.db.migrate import upgrade
from voxroute.db.session import create_engine, create_session_factory, transaction
from voxroute.demo import DEMO_CREDIT_MICROS, DemoInfo, demo_managed_keys, ensure_demo
from voxroute.drain import Drain
from voxroute.gc_policy import GcPauses
from voxroute.maintenance import Maintenance
from voxroute.metrics import Metrics
from voxroute.providers import ProviderResources
from voxroute.providers.catalog import Catalog, load_catalog
from voxroute.routing import KeyResolver, ManagedKeys
from voxroute.runtime import Runtime
from voxroute.settings import Settings, check_environment
from voxroute.telephony.audio_clock import AudioClock
from voxroute.vault import Vault
from voxroute.vault.master.factory import master_key_provider_from_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from voxroute.calls.vad_batch import VadBatcher
    from voxroute.emulators import EmulatorSuite

__all__ = ["build_runtime", "managed_key_values", "prepare_database"]

log = logging.getLogger("voxroute")
# Key checks reach real providers; a probe that hangs must not hold the request forever.
KEY_CHECK_TIMEOUT_S = 10


def managed_key_values(settings: Settings, catalog: Catalog) -> dict[str, dict[str, str]]:
    """The managed keys as plain values for this process.

    The configured ones, or random demo keys valid only at the emulators (the offline
    default); none when neither applies.
    """
    if settings.managed_keys:
        return {
            p: {k: v.get_secret_value() for k, v in fields.items()}
            for p, fields in settings.managed_keys.items()
        }
    return demo_managed_keys(catalog) if settings.use_emulators else {}


async def _start_emulators(
    stack: AsyncExitStack, settings: Settings, catalog: Catalog, managed: dict[str, Any]
) -> tuple[Settings, EmulatorSuite]:
    """Offline default: serve every provider on loopback and point managed keys at them."""
    from voxroute.emulators import EmulatorSuite  # only the embedded default needs them

    suite = await stack.enter_async_context(EmulatorSuite.start(host="127.0.0.1"))
    for provider, fields in managed.items():
        primary = catalog.get(provider).secret_fields[0]
        # Only Azure keys are bound to something else (their region) at the emulator.
        extra = {"region": fields["region"]} if "region" in fields else {}
        suite.register_key(provider, fields[primary], **extra)
    settings = settings.model_copy(
        update={
            "provider_base_urls": {**suite.base_urls, **settings.provider_base_urls},
            "twilio_api_base_url": settings.twilio_api_base_url or suite.base_urls["twilio"],
        }
    )
    return settings, suite


async def _start_vad(stack: AsyncExitStack) -> VadBatcher:
    """The worker's batched VAD, closed after the calls that use it."""
    from voxroute.calls.vad_batch import VadBatcher  # pipecat: imported at start-up only

    vad = VadBatcher()
    await vad.start()
    stack.push_async_callback(vad.aclose)
    return vad


async def _start_audio_clock(stack: AsyncExitStack) -> AudioClock:
    clock = AudioClock()
    await clock.start()
    stack.push_async_callback(clock.aclose)
    return clock


async def _seed_demo(
    engine: AsyncEngine, settings: Settings, store: CredentialStore, catalog: Catalog
) -> DemoInfo:
    """Create or reuse the demo org; it gets its starting credit once, whatever the restarts."""
    factory = create_session_factory(engine)
    async with transaction(factory) as session:
        demo = await ensure_demo(session, data_dir=settings.data_dir, store=store, catalog=catalog)
    await topup(
        factory,
        org_id=demo.org_id,
        amount_micros=DEMO_CREDIT_MICROS,
        idempotency_key=f"demo-initial-credit-{demo.org_id}",
        description="demo credit",
    )
    return demo


async def prepare_database(settings: Settings) -> DemoInfo | None:
    """Migrate, then create or reuse the demo org (when enabled): once per machine."""
    engine = create_engine(settings.resolved_database_url)
    try:
        await upgrade(engine)
        if not settings.demo_org:
            return None
        catalog = load_catalog()
        store = CredentialStore(Vault(master_key_provider_from_settings(settings)), catalog)
        return await _seed_demo(engine, settings, store, catalog)
    finally:
        await engine.dispose()


@asynccontextmanager
async def build_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Open every collaborator in order, build the runtime, close them in reverse."""
    check_environment()
    install_pipecat_patches()
    async with AsyncExitStack() as stack:
        catalog = load_catalog()
        managed_raw: dict[str, Any] = managed_key_values(settings, catalog)
        suite: EmulatorSuite | None = None
        if settings.use_emulators:
            settings, suite = await _start_emulators(stack, settings, catalog, managed_raw)
        engine = create_engine(settings.resolved_database_url)
        stack.push_async_callback(engine.dispose)
        await upgrade(engine)
        session_factory = create_session_factory(engine)
        # REST API requests get a pool of their own: they can never starve calls and webhooks.
        api_engine = create_engine(
            settings.resolved_database_url,
            pool_size=settings.api_db_pool_size,
            max_overflow=0,
            pool_timeout_s=settings.api_db_pool_timeout_s,
        )
        stack.push_async_callback(api_engine.dispose)
        vault = Vault(master_key_provider_from_settings(settings))
        store = CredentialStore(vault, catalog)
        managed = ManagedKeys(managed_raw, catalog)
        # One set of provider HTTP pools / SSL context per worker, closed last.
        provider_resources = await ProviderResources.create()
        stack.push_async_callback(provider_resources.aclose)
        # Per-org concurrency slots, across nodes when VOXROUTE_REDIS_URL is set.
        org_slots = create_org_slots(settings.redis_url, lease_s=settings.org_slot_lease_s)
        await org_slots.start()
        stack.push_async_callback(org_slots.aclose)
        vad = await _start_vad(stack)
        audio_clock = await _start_audio_clock(stack)
        registry = CallRegistry(
            max_calls=settings.max_calls_per_worker,
            loop_lag_limit_ms=settings.loop_lag_limit_ms,
            loop_busy_limit=settings.loop_busy_limit_pct / 100,
            max_concurrent_setups=settings.max_concurrent_setups,
        )
        drain = Drain(settings.drain_deadline_s)
        metrics = Metrics()
        billing = Metering(
            session_factory,
            BillingPolicy.from_settings(
                settings, hold_ttl=timedelta(seconds=settings.call_hold_ttl_s)
            ),
            hold_micros=settings.call_hold_micros,
            extend_every_s=settings.hold_extend_interval_s,
            sweep_every_s=settings.billing_sweep_interval_s,
            on_sweep_failures=metrics.billing_sweep_failures.inc,
        )
        await billing.start(
            hang_up=functools.partial(registry.hang_up, reason=EndReason.INSUFFICIENT_CREDIT.value)
        )
        stack.push_async_callback(billing.stop)
        maintenance = Maintenance(session_factory, call_token_ttl_s=settings.call_token_ttl_s)
        await maintenance.start()
        stack.push_async_callback(maintenance.stop)
        # Pay pipecat's imports and the VAD model load now, not on the first call.
        await asyncio.to_thread(warm_up)
        await registry.start()
        metrics.watch(
            active=lambda: registry.active,
            loop_lag_ms=lambda: registry.loop_lag_ms,
            loop_busy=lambda: registry.loop_busy,
        )
        stack.push_async_callback(registry.stop)
        gc_pauses = GcPauses(metrics.gc_pauses)
        gc_pauses.install()
        stack.callback(gc_pauses.remove)
        identity = NodeIdentity.from_settings(settings)
        call_control = create_call_control(settings.redis_url, registry, identity.id)
        await call_control.start()
        stack.push_async_callback(call_control.aclose)
        heartbeat = NodeHeartbeat(
            session_factory,
            identity,
            lambda: NodeStatus(registry.active, registry.loop_lag_ms, drain.draining),
            interval_s=settings.node_heartbeat_s,
        )
        await heartbeat.start()
        stack.push_async_callback(heartbeat.stop)  # after the calls below have ended
        stack.push_async_callback(registry.hang_up_all)
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=KEY_CHECK_TIMEOUT_S))
        stack.push_async_callback(http.close)
        demo = await _seed_demo(engine, settings, store, catalog) if settings.demo_org else None
        if demo is not None:
            if suite is not None:
                suite.register_key(
                    "twilio", demo.auth_token, account_sid=demo.account_sid, numbers=[demo.number]
                )
            log.warning(
                "demo organization %s ready (owner token and Twilio test credentials in %s). "
                "Place a test call with: voxroute call --url %s",
                demo.org_id,
                settings.data_dir / "demo.json",
                settings.resolved_public_url,
            )
        runtime = Runtime(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            api_sessions=create_session_factory(api_engine),
            vault=vault,
            catalog=catalog,
            store=store,
            managed=managed,
            resolver=KeyResolver(
                store=store, catalog=catalog, managed=managed, base_urls=settings.provider_base_urls
            ),
            registry=registry,
            drain=drain,
            node_id=identity.id,
            call_control=call_control,
            provider_resources=provider_resources,
            org_slots=org_slots,
            vad=vad,
            audio_clock=audio_clock,
            admission=CallAdmission(
                registry=registry,
                org_slots=org_slots,
                needed_micros=max(settings.call_hold_micros, settings.min_call_balance_micros),
                pending_ttl_s=settings.call_token_ttl_s + settings.org_slot_lease_s,
                drain=drain,
            ),
            api_rate=TenantRateLimiter(
                per_second=settings.api_rate_per_s, burst=settings.api_rate_burst
            ),
            billing=billing,
            key_checker=KeyChecker(
                store,
                http=http,
                base_urls=settings.provider_base_urls,
                per_minute=settings.validation_rate_per_minute,
            ),
            metrics=metrics,
            http_session=http,
            emulators=suite,
            demo=demo,
        )
        reaper = NodeReaper(
            session_factory,
            policy=billing.policy,
            heartbeat=heartbeat,
            dead_after_s=settings.node_dead_after_s,
            carrier_hang_up=runtime.hang_up_at_carrier,
        )
        await reaper.start()
        stack.push_async_callback(reaper.stop)
        yield runtime
