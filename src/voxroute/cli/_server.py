"""One worker's uvicorn server, whose SIGTERM drains the node instead of cutting its calls.

uvicorn's own `Server` ends on the first SIGTERM: it closes the listener, sends every
websocket a close (1012) and runs the lifespan shutdown, which hangs up every live call.
`DrainingServer` keeps serving instead (`voxroute.drain`):

- 1st SIGTERM/SIGINT: drain — readiness 503, new calls refused busy, live calls go on;
  the worker exits once no call is left (and an answered webhook's stream had time to come);
- drain deadline or 2nd signal: every live call hears the goodbye and is billed, then exit;
- 3rd signal: exit at once (uvicorn's shutdown still closes connections).

The signal handler only counts; the decisions run on the event loop, in `on_tick`.
"""

from __future__ import annotations

import logging
import socket
import time
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from voxroute.calls.state import EndReason
from voxroute.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from voxroute.runtime import Runtime

__all__ = ["DrainingServer", "serve_app", "uvicorn_config"]

log = logging.getLogger("voxroute")

# uvicorn's websockets-sansio protocol plus the media lane (telephony/media_lane.py); named,
# not imported, so that the CLI does not import the server stack before it needs it.
MEDIA_LANE_PROTOCOL = "voxroute.telephony.media_lane:MediaLaneProtocol"
# uvicorn's httptools protocol with header/body timeouts and a connection cap (http_guard.py).
GUARDED_HTTP_PROTOCOL = "voxroute.http_guard:GuardedHttpProtocol"
# A webhook answered just before the drain began is followed by its media stream within
# about a second; the worker stays up at least this long so that stream finds it.
STREAM_ARRIVAL_S = 3.0


def uvicorn_config(settings: Settings, app: FastAPI) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=settings.log_level.lower(),
        loop="uvloop",
        http=GUARDED_HTTP_PROTOCOL,
        timeout_keep_alive=settings.http_keep_alive_s,
        ws=MEDIA_LANE_PROTOCOL,
        ws_max_size=settings.max_ws_message_bytes,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        # Media streams carry base64 audio, which deflate barely shrinks at a CPU
        # cost on every frame both ways.
        ws_per_message_deflate=False,
        access_log=False,
        # Once the calls are over, connections still open (keep-alive, a late stream) get
        # this long before uvicorn closes them.
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
    )


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with the drain in place of its exit on the first signal."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, *, grace_s: float) -> None:
        super().__init__(config)
        self._app = app
        self._grace_s = grace_s
        self._signals = 0
        self._drain_seen_at: float | None = None
        self._ending_since: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # In the signal handler: count only; `on_tick` acts on the loop.
        self._signals += 1
        if self._signals >= 3:
            log.warning("third stop signal: exiting now")
            super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        if not self._signals:
            return False
        runtime: Runtime | None = getattr(self._app.state, "runtime", None)
        if runtime is None:  # not started: nothing to drain
            return True
        return await self._drain_step(runtime)

    async def _drain_step(self, runtime: Runtime) -> bool:
        drain, registry = runtime.drain, runtime.registry
        now = time.monotonic()
        if drain.begin():
            self._drain_seen_at = now
        if (self._signals >= 2 or drain.expired) and drain.end_now():
            log.warning(
                "drain %s: ending %d live calls (goodbye, billed)",
                "deadline passed" if drain.expired else "cut short by a second signal",
                registry.active,
            )
            self._ending_since = now
            await registry.hang_up_all(EndReason.SERVER_SHUTDOWN.value)
        if registry.active == 0:
            seen = self._drain_seen_at if self._drain_seen_at is not None else now
            return self._ending_since is not None or now - seen >= STREAM_ARRIVAL_S
        if self._ending_since is not None and now - self._ending_since >= self._grace_s:
            log.error("%d calls did not end within %.0fs; exiting", registry.active, self._grace_s)
            return True
        return False


def serve_app(settings: Settings, app: FastAPI, listener: socket.socket) -> None:
    """Serve `app` on `listener` in this process until drained."""
    server = DrainingServer(uvicorn_config(settings, app), app, grace_s=settings.shutdown_grace_s)
    server.run(sockets=[listener])
