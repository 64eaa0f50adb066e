"""Entry point: parse arguments, run one sub-command, turn VoxrouteError into exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from voxroute import __version__
from voxroute.cli import admin, call, keys, loadtest, serve
from voxroute.errors import VoxrouteError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxroute", description=__doc__)
    parser.add_argument("--version", action="version", version=f"voxroute {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve.register(sub)
    admin.register(sub)
    keys.register(sub)
    call.register(sub)
    loadtest.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except VoxrouteError as exc:
        sys.stderr.write(f"voxroute: {exc.message}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
