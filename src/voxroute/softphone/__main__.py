"""`python -m voxroute.softphone`: place one or many concurrent calls; JSON or text out.

The number's auth token is read from `VOXROUTE_SOFTPHONE_AUTH_TOKEN` (never argv, which
other users of the machine can read).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path

from voxroute.softphone.client import place_call
from voxroute.softphone.result import CallResult, format_result


async def _many(args: argparse.Namespace, token: str) -> list[CallResult]:
    async def one(index: int) -> CallResult:
        await asyncio.sleep(index * args.stagger_ms / 1000)
        return await place_call(
            args.url,
            args.number,
            args.from_number,
            args.account_sid,
            token,
            [Path(p) for p in args.wav],
            pause_s=args.pause_s,
            quiet_s=args.quiet_s,
            reply_timeout_s=args.reply_timeout_s,
            initial_wait_s=args.initial_wait_s,
        )

    return list(await asyncio.gather(*(one(i) for i in range(args.calls))))


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m voxroute.softphone`; exit code 0 only if every call went well."""
    parser = argparse.ArgumentParser(prog="python -m voxroute.softphone")
    parser.add_argument("--url", required=True)
    parser.add_argument("--number", required=True)
    parser.add_argument("--from-number", default="+15550000001")
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--wav", action="append", required=True)
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--stagger-ms", type=float, default=50.0)
    parser.add_argument("--pause-s", type=float, default=0.5)
    parser.add_argument("--quiet-s", type=float, default=0.8)
    parser.add_argument("--initial-wait-s", type=float, default=0.5)
    parser.add_argument("--reply-timeout-s", type=float, default=8.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    token = os.environ.get("VOXROUTE_SOFTPHONE_AUTH_TOKEN", "")
    if not token:
        print("set VOXROUTE_SOFTPHONE_AUTH_TOKEN", file=sys.stderr)
        return 2
    results = asyncio.run(_many(args, token))
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in results]))
    else:
        print("\n".join(format_result(r) for r in results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
