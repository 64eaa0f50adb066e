"""`voxroute serve`, `voxroute migrate` and `voxroute emulators`.

`serve --workers N` runs N uvicorn worker processes (default: one per core) on one port, each
an uvloop event loop serving many calls. State that must exist once per machine is made by
the parent before any worker starts (`voxroute.cli._workers`): the database migration, the
demo organisation and, on the embedded default, one emulator process shared by all workers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from voxroute.cli._common import database, settings_from_env
from voxroute.settings import check_environment

if TYPE_CHECKING:
    from fastapi import FastAPI


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the voxroute server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None, help="0: any free port (reported)")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: VOXROUTE_WORKERS, or one per core)",
    )
    serve.add_argument(
        "--url-file", type=Path, default=None, help="write the bound URL here once listening"
    )
    serve.add_argument(
        "--fd",
        type=int,
        default=None,
        help="serve on this already-bound listening socket (inherited file descriptor) "
        "instead of binding --host/--port",
    )
    serve.set_defaults(func=lambda a: run_server(a.host, a.port, a.workers, a.url_file, a.fd))
    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument(
        "--scrub-plaintext-keys",
        action="store_true",
        help="delete key-shaped values stored in assistant stage configs (revoke them first)",
    )
    migrate.set_defaults(func=lambda a: asyncio.run(_migrate(a.scrub_plaintext_keys)))
    emulators = sub.add_parser(
        "emulators", help="serve the provider emulators; prints provider → base URL"
    )
    emulators.add_argument("--host", default="127.0.0.1")
    emulators.add_argument(
        "--keys-file", default=None, help='JSON {"provider": ["key", …]} to register'
    )
    emulators.add_argument("--latency-ms", type=int, default=0)
    emulators.set_defaults(func=lambda a: _emulators(a.host, a.keys_file, a.latency_ms))


def worker_count(requested: int | None, configured: int) -> int:
    """--workers, else VOXROUTE_WORKERS, else one per core (0 means "one per core")."""
    count = requested if requested is not None else configured
    if count <= 0:
        count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        count = count or os.cpu_count() or 1
    return count


def run_server(
    host: str | None,
    port: int | None,
    workers: int | None = None,
    url_file: Path | None = None,
    fd: int | None = None,
) -> None:
    from voxroute.cli._listen import bind_listener, report_url
    from voxroute.cli._server import serve_app
    from voxroute.cli._supervisor import Supervisor
    from voxroute.cli._workers import shared_state
    from voxroute.http_guard import raise_open_file_limit
    from voxroute.logs import configure_logging

    if host:
        os.environ["VOXROUTE_HOST"] = host
    if port is not None:
        os.environ["VOXROUTE_PORT"] = str(port)
    settings = settings_from_env()
    check_environment()  # refuse before any worker starts: a clear message and exit code 2
    configure_logging(settings.log_level)
    count = worker_count(workers, settings.workers)
    listener = (
        socket.socket(fileno=fd) if fd is not None else bind_listener(settings.host, settings.port)
    )
    # Every connection is a file: the default soft limit (often 1024) is reached long before
    # memory or CPU are. Workers inherit the raised limit.
    open_files, _ = raise_open_file_limit()
    logging.getLogger("voxroute").info(
        "open-file limit %d per worker; at most %d connections each",
        open_files,
        settings.max_connections,
    )
    # Workers read their settings from the environment the parent prepares here.
    os.environ["VOXROUTE_PORT"] = str(listener.getsockname()[1])
    with listener, shared_state(settings_from_env()):
        settings = settings_from_env()
        report_url(listener, settings.host, url_file)
        if count == 1:
            serve_app(settings, worker_app(), listener)
        else:
            status = Supervisor(count, listener).run()
            if status:
                raise SystemExit(status)


def worker_app() -> FastAPI:
    """The app of one worker process, built before its event loop serves.

    Heavy shared resources are loaded here, once per worker: pipecat and the provider SDKs
    (≈1-2 s of imports, which would otherwise block the loop on the first call and trip the
    lag watchdog) and the VAD model session that every call shares.
    """
    import voxroute.calls.session  # noqa: F401 - import cost paid at start-up
    from voxroute.app import create_app
    from voxroute.calls.vad import preload_vad
    from voxroute.gc_policy import tune_collector
    from voxroute.logs import configure_logging

    settings = settings_from_env()
    configure_logging(settings.log_level)
    preload_vad()
    app = create_app(settings)
    # Everything imported so far lives as long as the worker. Moving it out of the
    # collector's generations keeps full collections (which stop the event loop, and with
    # it every call's audio) from rescanning a few hundred thousand module-level objects.
    gc.collect()
    gc.freeze()
    tune_collector(settings.gc_full_after)
    return app


async def _migrate(scrub_plaintext_keys: bool = False) -> None:
    async with database(settings_from_env(), scrub_plaintext_keys=scrub_plaintext_keys):
        logging.getLogger("voxroute").info("database is at the latest migration")


def _emulators(host: str, keys_file: str | None, latency_ms: int) -> None:
    from voxroute.emulators import serve_emulators

    serve_emulators(host, keys_file, latency_ms)
