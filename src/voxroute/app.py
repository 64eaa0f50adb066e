"""ASGI application factory and lifespan: everything long-lived is built here, once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from fastapi import FastAPI, Request, Response

from voxroute import __version__
from voxroute.api.edge import InputEdge
from voxroute.api.errors import install_error_handlers
from voxroute.api.limits import BodySizeLimit
from voxroute.api.openapi import install_openapi, operation_id
from voxroute.api.router import api_router
from voxroute.billing import BillingPolicy, topup
from voxroute.calls import warm_up
from voxroute.calls.audio_clock import AudioClock
from voxroute.calls.registry import CallRegistry
from voxroute.calls.slots import create_org_slots
from voxroute.credentials import CredentialStore
from voxroute.credentials.checks import CheckLimiter
from voxroute.db.migrate import upgrade
from voxroute.db.session import create_engine, create_session_factory, transaction
from voxroute.demo import DEMO_CREDIT_MICROS, demo_managed_keys, ensure_demo
from voxroute.gc_policy import GcPauses
from voxroute.maintenance import Maintenance
from voxroute.metering import Metering
from voxroute.metrics import CONTENT_TYPE_LATEST
from voxroute.providers import ProviderResources
from voxroute.providers.catalog import load_catalog
from voxroute.routing import KeyResolver, ManagedKeys
from voxroute.runtime import Runtime
from voxroute.settings import Settings, check_environment, load_settings
from voxroute.telephony.twilio.routes import router as twilio_router
from voxroute.vault import Vault
from voxroute.vault.master.factory import master_key_provider_from_settings
from voxroute.web import mount_web

if TYPE_CHECKING:
    from voxroute.calls.vad_batch import VadBatcher
    from voxroute.emulators import EmulatorSuite

log = logging.getLogger("voxroute")


async def _start_emulators(
    stack: AsyncExitStack, settings: Settings
) -> tuple[Settings, dict[str, dict[str, str]], EmulatorSuite]:
    """Offline default: serve every provider on loopback and point managed keys at them."""
    from voxroute.emulators import EmulatorSuite  # only the embedded default needs them

    suite = await stack.enter_async_context(EmulatorSuite.start(host="127.0.0.1"))
    catalog = load_catalog()
    managed = (
        demo_managed_keys(catalog)
        if not settings.managed_keys
        else {
            p: {k: v.get_secret_value() for k, v in fields.items()}
            for p, fields in settings.managed_keys.items()
        }
    )
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
    return settings, managed, suite


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


@asynccontextmanager
async def build_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Open every collaborator in order and close them in reverse."""
    check_environment()
    async with AsyncExitStack() as stack:
        managed_raw: dict[str, Any] = dict(settings.managed_keys)
        suite: EmulatorSuite | None = None
        if settings.use_emulators:
            settings, managed_raw, suite = await _start_emulators(stack, settings)
        engine = create_engine(settings.resolved_database_url)
        stack.push_async_callback(engine.dispose)
        await upgrade(engine)
        vault = Vault(master_key_provider_from_settings(settings))
        catalog = load_catalog()
        store = CredentialStore(vault, catalog)
        managed = ManagedKeys(managed_raw, catalog)
        # calls: one set of provider HTTP pools / SSL context per worker, closed last.
        provider_resources = await ProviderResources.create()
        stack.push_async_callback(provider_resources.aclose)
        # calls: per-org concurrency slots, across nodes when VOXROUTE_REDIS_URL is set.
        org_slots = create_org_slots(settings.redis_url, lease_s=settings.org_slot_lease_s)
        await org_slots.start()
        stack.push_async_callback(org_slots.aclose)
        vad = await _start_vad(stack)
        audio_clock = await _start_audio_clock(stack)
        runtime = Runtime(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            vault=vault,
            catalog=catalog,
            store=store,
            managed=managed,
            resolver=KeyResolver(
                store=store, catalog=catalog, managed=managed, base_urls=settings.provider_base_urls
            ),
            registry=CallRegistry(
                max_calls=settings.max_calls_per_worker,
                loop_lag_limit_ms=settings.loop_lag_limit_ms,
                loop_busy_limit=settings.loop_busy_limit_pct / 100,
                max_concurrent_setups=settings.max_concurrent_setups,
            ),
            provider_resources=provider_resources,
            org_slots=org_slots,
            vad=vad,
            audio_clock=audio_clock,
            base_urls=dict(settings.provider_base_urls),
        )
        runtime.billing = Metering(
            runtime.session_factory,
            BillingPolicy.from_settings(
                settings, hold_ttl=timedelta(seconds=settings.call_hold_ttl_s)
            ),
            hold_micros=settings.call_hold_micros,
            extend_every_s=settings.hold_extend_interval_s,
            sweep_every_s=settings.billing_sweep_interval_s,
        )
        await runtime.billing.start(hang_up=runtime.registry.hang_up)
        stack.push_async_callback(runtime.billing.stop)
        maintenance = Maintenance(
            runtime.session_factory, call_token_ttl_s=settings.call_token_ttl_s
        )
        await maintenance.start()
        stack.push_async_callback(maintenance.stop)
        # Pay pipecat's imports and the VAD model load now, not on the first call.
        await asyncio.to_thread(warm_up)
        await runtime.registry.start()
        runtime.metrics.watch(
            active=lambda: runtime.registry.active,
            loop_lag_ms=lambda: runtime.registry.loop_lag_ms,
            loop_busy=lambda: runtime.registry.loop_busy,
        )
        stack.push_async_callback(runtime.registry.stop)
        gc_pauses = GcPauses(runtime.metrics.gc_pauses)
        gc_pauses.install()
        stack.callback(gc_pauses.remove)
        stack.push_async_callback(runtime.registry.hang_up_all)
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        stack.push_async_callback(http.close)
        runtime.http_session = http
        runtime.emulators = suite
        runtime.check_limiter = CheckLimiter(settings.validation_rate_per_minute)
        if settings.demo_org:
            async with transaction(runtime.session_factory) as session:
                demo = await ensure_demo(
                    session, data_dir=settings.data_dir, store=store, catalog=catalog
                )
            runtime.demo = demo
            # Idempotent: the demo org gets its starting credit once, whatever the restarts.
            await topup(
                runtime.session_factory,
                org_id=demo.org_id,
                amount_micros=DEMO_CREDIT_MICROS,
                idempotency_key=f"demo-initial-credit-{demo.org_id}",
                description="demo credit",
            )
            if suite is not None:
                suite.register_key("twilio", demo.auth_token, account_sid=demo.account_sid)
            log.warning(
                "demo organization %s ready (owner token and Twilio test credentials in %s). "
                "Place a test call with: voxroute call --url %s",
                demo.org_id,
                settings.data_dir / "demo.json",
                settings.resolved_public_url,
            )
        yield runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with build_runtime(settings) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="voxroute",
        version=__version__,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    app.add_middleware(InputEdge)  # inside the size limit: it reads bodies already bounded
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Telephony first: routes match in order, and a call's webhook and media stream should
    # not be tried against every API route first (0.6 ms a webhook; BENCHMARKS.md §5).
    app.include_router(twilio_router)
    app.include_router(api_router, prefix="/api/v1")
    mount_web(app)
    install_openapi(app)

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics of this worker (closed label sets; no ids, no secrets)."""
        runtime: Runtime = request.app.state.runtime
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok", "version": __version__}

    return app
