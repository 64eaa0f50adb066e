"""The listening socket of `voxroute serve`, bound by the parent before any worker starts.

Binding here (not inside uvicorn) lets `--port 0` work: the kernel picks a free port, the
parent reads it back, and the workers learn the real port (and so the public URL Twilio's
signatures are checked against) before they start. Tests and the wheel check never guess a
free port and bind it later; they read the URL the server reports.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from voxroute.errors import ConfigError

__all__ = ["LISTEN_BACKLOG", "bind_listener", "report_url"]

log = logging.getLogger("voxroute")
# uvicorn's default backlog: connections made while workers start wait here, not refused.
LISTEN_BACKLOG = 2048


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0: any free port); a refusal is a `ConfigError`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def report_url(sock: socket.socket, host: str, url_file: Path | None) -> str:
    """Log the bound URL and, if asked, write it to `url_file` (atomically, one line)."""
    port = sock.getsockname()[1]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    log.info("voxroute listening on %s", url)
    if url_file is not None:
        partial = url_file.with_name(url_file.name + ".partial")
        partial.write_text(url + "\n", encoding="utf-8")
        os.replace(partial, url_file)
    return url
