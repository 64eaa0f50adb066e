"""`voxroute loadtest`: N simulated Twilio calls against a running server (loopback only).

With no credentials it calls the embedded default's demo number from `<data_dir>/demo.json`.
The auth token may come from `VOXROUTE_LOADTEST_AUTH_TOKEN` rather than argv, which other
users of the machine can read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxroute.cli._common import settings_from_env
from voxroute.demo import load_demo

if TYPE_CHECKING:
    from voxroute.loadtest import LoadRun

TOKEN_ENV = "VOXROUTE_LOADTEST_AUTH_TOKEN"  # noqa: S105 - a variable name, not a secret


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser("loadtest", help="load a running server with simulated calls")
    cmd.add_argument("--url", default=None, help="voxroute base URL (loopback only)")
    cmd.add_argument("--calls", type=int, default=10, help="concurrent calls (1..1000)")
    cmd.add_argument(
        "--duration",
        type=float,
        default=15.0,
        help="seconds all calls are up together, after the ramp",
    )
    cmd.add_argument(
        "--ramp", type=float, default=None, help="seconds to start all calls (default 50 ms/call)"
    )
    cmd.add_argument("--json", type=Path, default=None, help="write the JSON report here")
    cmd.add_argument("--number", default=None, help="the called number (default: demo)")
    cmd.add_argument("--from", dest="from_number", default="+15550109999")
    cmd.add_argument("--account-sid", default=None)
    cmd.add_argument(
        "--auth-token", default=None, help=f"the number's Twilio auth token (or ${TOKEN_ENV})"
    )
    cmd.add_argument(
        "--wav", action="append", type=Path, default=None, help="speech clip (repeatable)"
    )
    cmd.add_argument("--pause", type=float, default=1.0, help="silence after each reply (s)")
    cmd.add_argument("--quiet", action="store_true", help="no live progress")
    cmd.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    from voxroute.cli.call import default_clips
    from voxroute.loadtest import (
        LoadConfig,
        LoadConfigError,
        build_report,
        format_report,
        run_load,
    )

    settings = settings_from_env()
    demo = load_demo(settings.data_dir)
    number = args.number or (demo.number if demo else None)
    account_sid = args.account_sid or (demo.account_sid if demo else None)
    token = args.auth_token or os.environ.get(TOKEN_ENV) or (demo.auth_token if demo else None)
    if not (number and account_sid and token):
        sys.exit(
            "voxroute loadtest: give --number, --account-sid and the auth token"
            f" (--auth-token or ${TOKEN_ENV}); no demo.json found"
        )
    config = LoadConfig(
        url=(args.url or settings.resolved_public_url).rstrip("/"),
        number=number,
        account_sid=account_sid,
        auth_token=token,
        clips=args.wav or default_clips(),
        calls=args.calls,
        duration_s=args.duration,
        ramp_s=args.ramp,
        from_number=args.from_number,
        pause_s=args.pause,
    )
    try:
        config.validate()
    except LoadConfigError as exc:
        sys.exit(f"voxroute loadtest: {exc}")
    run = _run_loop(run_load(config, progress=None if args.quiet else sys.stderr))
    report = build_report(run)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(format_report(report))
    if report["calls_failed"]:
        sys.exit(1)


def _run_loop(coro: Coroutine[Any, Any, LoadRun]) -> LoadRun:
    """uvloop when available: the load side must stay cheaper than the server it measures."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: LoadRun = uvloop.run(coro)
    return result
