"""`voxroute call`: place a test call the way Twilio does (signed webhook, TwiML, media stream).

With no options it calls the embedded default's demo number, using `<data_dir>/demo.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from voxroute.cli._common import settings_from_env
from voxroute.demo import load_demo
from voxroute.package_data import package_path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    call = sub.add_parser("call", help="place a test call (softphone)")
    call.add_argument(
        "--url", default=None, help="voxroute base URL (default: the settings' public URL)"
    )
    call.add_argument("--number", default=None, help="the called number (default: the demo number)")
    call.add_argument("--from", dest="from_number", default="+15550109999")
    call.add_argument("--account-sid", default=None)
    call.add_argument(
        "--auth-token", default=None, help="the number's Twilio auth token (signs the webhook)"
    )
    call.add_argument(
        "--wav",
        action="append",
        type=Path,
        default=None,
        help="speech to send, one utterance per file (repeatable)",
    )
    call.add_argument("--record", type=Path, default=Path("call-recording.wav"))
    call.add_argument(
        "--pause", type=float, default=3.0, help="seconds of silence after each utterance"
    )
    call.add_argument(
        "--token", default=None, help="API token to fetch the call's resolution trace"
    )
    call.set_defaults(func=_run)


def default_clips() -> list[Path]:
    return [
        package_path("voxroute.softphone", "data", name)
        for name in ("utterance-01.ulaw8k.wav", "utterance-04.ulaw8k.wav")
    ]


def _run(args: argparse.Namespace) -> None:
    from voxroute.softphone.client import place_call
    from voxroute.softphone.result import format_result

    settings = settings_from_env()
    demo = load_demo(settings.data_dir)
    number = args.number or (demo.number if demo else None)
    account_sid = args.account_sid or (demo.account_sid if demo else None)
    auth_token = args.auth_token or (demo.auth_token if demo else None)
    api_token = args.token or (demo.token if demo else None)
    if not (number and account_sid and auth_token):
        sys.exit(
            "voxroute call: give --number, --account-sid and --auth-token (no demo.json found)"
        )
    url = (args.url or settings.resolved_public_url).rstrip("/")
    result = asyncio.run(
        place_call(
            url,
            number,
            args.from_number,
            account_sid,
            auth_token,
            args.wav or default_clips(),
            args.record,
            pause_s=args.pause,
        )
    )
    print(format_result(result))
    if api_token and result.call_sid:
        detail = asyncio.run(_fetch_call(url, api_token, result.call_sid))
        if detail is not None:
            print("resolution:")
            for stage in detail.get("resolution", []):
                print(
                    f"  {stage['stage']}: {stage['provider']} {stage['model']}"
                    f" via {stage['source']}"
                    + (f" ({stage['credential_id']})" if stage.get("credential_id") else "")
                )
            print(f"end reason: {detail.get('end_reason')}")
            if "cost" in detail:
                print("cost: " + json.dumps(detail["cost"], default=str))
    if not result.ok:
        sys.exit(1)


async def _fetch_call(url: str, token: str, call_sid: str) -> dict[str, Any] | None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        for _ in range(20):  # the call row is finalized just after the socket closes
            calls = (await client.get("/api/v1/calls")).json()
            match = [c for c in calls if c.get("provider_call_id") == call_sid]
            if match and match[0].get("status") == "ended":
                detail: dict[str, Any] = (
                    await client.get(f"/api/v1/calls/{match[0]['id']}")
                ).json()
                return detail
            await asyncio.sleep(0.25)
    return None
