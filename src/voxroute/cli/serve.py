"""`voxroute serve`, `voxroute migrate` and `voxroute emulators`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from voxroute.cli._common import database, settings_from_env


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the voxroute server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=lambda a: run_server(a.host, a.port))
    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=lambda a: asyncio.run(_migrate()))
    emulators = sub.add_parser(
        "emulators", help="serve the provider emulators; prints provider → base URL"
    )
    emulators.add_argument("--host", default="127.0.0.1")
    emulators.add_argument("--port", type=int, default=None, help="first port (default: random)")
    emulators.add_argument(
        "--keys-file", default=None, help='JSON {"provider": ["key", …]} to register'
    )
    emulators.add_argument("--latency-ms", type=int, default=0)
    emulators.set_defaults(func=lambda a: _emulators(a.host, a.port, a.keys_file, a.latency_ms))


def run_server(host: str | None, port: int | None) -> None:
    import uvicorn

    from voxroute.app import create_app
    from voxroute.logs import configure_logging

    if host:
        os.environ["VOXROUTE_HOST"] = host
    if port is not None:
        os.environ["VOXROUTE_PORT"] = str(port)
    settings = settings_from_env()
    configure_logging(settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        loop="uvloop",
        ws_max_size=settings.max_ws_message_bytes,
        access_log=False,
    )


async def _migrate() -> None:
    async with database(settings_from_env()):
        logging.getLogger("voxroute").info("database is at the latest migration")


def _emulators(host: str, port: int | None, keys_file: str | None, latency_ms: int) -> None:
    from voxroute.emulators import serve_emulators

    serve_emulators(host, port, keys_file, latency_ms)
