"""ASGI application factory; its lifespan builds the runtime (`voxroute.bootstrap`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from voxroute import __version__
from voxroute.api.deps import RuntimeDep, ScraperDep
from voxroute.api.docs import install_docs
from voxroute.api.edge import InputEdge
from voxroute.api.errors import install_error_handlers
from voxroute.api.limits import BodySizeLimit
from voxroute.api.openapi import install_openapi, operation_id
from voxroute.api.router import api_router
from voxroute.bootstrap import build_runtime
from voxroute.calls.session import run_call
from voxroute.db.models import Call
from voxroute.metrics import CONTENT_TYPE_LATEST
from voxroute.settings import Settings, load_settings
from voxroute.telephony.media import MediaSession
from voxroute.telephony.twilio.routes import router as twilio_router
from voxroute.web import mount_web

__all__ = ["build_runtime", "create_app"]

log = logging.getLogger("voxroute")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app: telephony routes, the REST API, the dashboard; the runtime at start-up."""
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
        docs_url=None,  # served from local assets by install_docs
        redoc_url=None,  # its page loads scripts and fonts from CDNs
        generate_unique_id_function=operation_id,
    )
    install_docs(app)

    async def call_core(call: Call, media: MediaSession) -> None:
        """Where a carrier's entry path hands a claimed call (`telephony.media.CallCore`)."""
        await run_call(app.state.runtime, call, media)

    app.state.call_core = call_core
    install_error_handlers(app)
    app.add_middleware(InputEdge)  # inside the size limit: it reads bodies already bounded
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Telephony first: routes match in order, and a call's webhook and media stream should
    # not be tried against every API route first (0.6 ms a webhook).
    app.include_router(twilio_router)
    app.include_router(api_router, prefix="/api/v1")
    mount_web(app)
    install_openapi(app)

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics(_: ScraperDep, runtime: RuntimeDep) -> Response:
        """Prometheus metrics of this worker (closed label sets; no ids, no secrets).

        Needs `Authorization: Bearer` with VOXROUTE_METRICS_TOKEN or a platform-admin token.
        """
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok", "version": __version__}

    @app.get("/health/ready", tags=["health"])
    async def ready(runtime: RuntimeDep) -> JSONResponse:
        """Readiness: 200 while this node takes new calls, 503 while it drains for a restart."""
        if runtime.drain.draining:
            return JSONResponse({"status": "draining", "version": __version__}, status_code=503)
        return JSONResponse({"status": "ready", "version": __version__})

    return app
