"""A worker process of `voxroute serve --workers N`: `python -m voxroute.cli._worker FD`.

The supervisor (`voxroute.cli._supervisor`) starts it with the listening socket as an
inherited descriptor and the settings in the environment it prepared.
"""

from __future__ import annotations

import socket
import sys

from voxroute.cli._common import settings_from_env
from voxroute.cli._server import serve_app


def main(argv: list[str]) -> None:
    from voxroute.cli.serve import worker_app

    listener = socket.socket(fileno=int(argv[0]))
    serve_app(settings_from_env(), worker_app(), listener)


if __name__ == "__main__":
    main(sys.argv[1:])
