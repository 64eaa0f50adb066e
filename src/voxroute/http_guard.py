"""uvicorn's HTTP protocol with the limits a public server needs against slow clients.

uvicorn's httptools protocol waits for a request's headers and body for ever: a client
that sends half a request, or nothing, keeps a connection (a file descriptor) open until
the process runs out of them, and then nothing, `/health` included, is answered
("slowloris"). Its own `limit_concurrency` only answers 503 once a request's headers are
complete, which such clients never reach; `timeout_keep_alive` only covers the idle time
after a response.

`GuardedHttpProtocol` adds, per connection:

* a **connection cap** (`max_connections`, per worker, counting websockets too): beyond it
  a new connection gets a 503 at once and is closed, before anything is read;
* a **header timeout**: the request line and headers must be complete `header_timeout_s`
  after the connection opened (or after the next request began), else 408 and close;
* a **header size bound** (`MAX_HEADER_BYTES`): 431 and close beyond it;
* a **body timeout**: a request's body must be complete `body_timeout_s` after its headers,
  else 408 (if no response has started) and close; the app sees a disconnect.

A dropped client is logged (at most one line a second, with a count of the others). The
limits come from `Settings` (read once per worker process, as the app reads them), and the
cap is kept below the process's open-file limit, which `raise_open_file_limit` lifts to
its hard maximum at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from starlette.requests import ClientDisconnect
from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

__all__ = [
    "FILES_PER_CALL",
    "FILES_RESERVED",
    "MAX_HEADER_BYTES",
    "GuardedHttpProtocol",
    "HttpLimits",
    "connection_cap",
    "http_limits",
    "raise_open_file_limit",
]

log = logging.getLogger("voxroute.http")

MAX_HEADER_BYTES = 64 * 1024
# Open files a live call holds besides its media socket (provider sockets, database), and
# what the process needs besides its connections: kept free below the open-file limit.
FILES_PER_CALL = 8
FILES_RESERVED = 64


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How long a client may take over a request's headers and body, and how many may connect."""

    header_timeout_s: float
    body_timeout_s: float
    max_connections: int


def raise_open_file_limit() -> tuple[int, int]:
    """Lift the soft RLIMIT_NOFILE to the hard limit; the (soft, hard) limits now in force.

    Worker processes inherit the raised limit: every connection is a file.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. an infinite hard limit the kernel refuses
            pass
    return soft, hard


def connection_cap(requested: int, max_calls: int, open_files: int) -> int:
    """The connection cap that leaves every admitted call the files it needs."""
    room = open_files - FILES_RESERVED - max_calls * FILES_PER_CALL
    return max(1, min(requested, room))


@cache
def http_limits() -> HttpLimits:
    """This worker's limits, from the same environment the app reads its settings from."""
    from voxroute.settings import load_settings

    settings = load_settings()
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = connection_cap(settings.max_connections, settings.max_calls_per_worker, soft)
    if cap < settings.max_connections:
        log.warning(
            "connection cap lowered from %d to %d: the open-file limit is %d "
            "(raise it with `ulimit -n`)",
            settings.max_connections,
            cap,
            soft,
        )
    return HttpLimits(
        header_timeout_s=settings.http_header_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
        max_connections=cap,
    )


class _DropLog:
    """One line a second at most for each kind of drop, however many clients are dropped."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._last = 0.0
        self._since = 0

    def note(self, what: str, client: tuple[str, int] | None) -> None:
        now = time.monotonic()
        if now - self._last < 1.0:
            self._since += 1
            return
        others = f" ({self._since} more since the last report)" if self._since else ""
        peer = f"{client[0]}:{client[1]}" if client else "unknown peer"
        log.warning("%s %s: %s%s", self._kind, peer, what, others)
        self._last, self._since = now, 0


_slow = _DropLog("dropped a slow client")
_refused = _DropLog("refused a connection from")
_oversized = _DropLog("dropped a client")

_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 12\r\nretry-after: 1\r\nconnection: close\r\n\r\nserver busy\n"
)
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\nconnection: close\r\n\r\nrequest timeout\n"
)
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; "
    b"charset=utf-8\r\ncontent-length: 24\r\nconnection: close\r\n\r\nrequest header too large\n"
)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a connection cap, header/body timeouts and a size bound.

    See the module docstring for why each bound exists.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = http_limits()
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = True
        self._dropped = False

    # -- the connection -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        over = len(self.connections) >= self._limits.max_connections
        super().connection_made(transport)
        if over:
            _refused.note(f"{len(self.connections) - 1} connections open (the cap)", self.client)
            transport.write(_REFUSED)
            transport.close()
            return
        self._arm(self._limits.header_timeout_s, "request headers incomplete")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._drop(_TOO_LARGE, f"request headers over {MAX_HEADER_BYTES} bytes", _oversized)
                return
        super().data_received(data)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the websocket protocol takes the transport over
        super().handle_websocket_upgrade()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        super()._start_asgi_task(cycle, self._quiet_once_dropped(app))

    def _quiet_once_dropped(self, app: ASGI3Application) -> ASGI3Application:
        """Keep a dropped client's `ClientDisconnect` out of the error log.

        The drop itself is already logged (once a second); a traceback per connection
        would flood the log during an attack.
        """

        async def guarded(
            scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
        ) -> None:
            try:
                await app(scope, receive, send)
            except ClientDisconnect:
                if not self._dropped:
                    raise

        return guarded

    # -- parser callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a following request on a kept-alive connection
            self._arm(self._limits.header_timeout_s, "request headers incomplete")

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_headers = False
        self._header_bytes = 0
        super().on_headers_complete()
        if self.parser.should_upgrade() and self._should_upgrade():
            return  # a websocket: its protocol takes the transport over
        self._arm(self._limits.body_timeout_s, "request body incomplete")

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_headers = True  # what comes next is the next request's headers
        super().on_message_complete()

    # -- deadlines ----------------------------------------------------------------------
    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, seconds, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, seconds: float, what: str) -> None:
        self._deadline = None
        cycle = self.cycle
        answered = cycle is not None and cycle.response_started and not self._in_headers
        self._drop(None if answered else _TIMED_OUT, f"{what} after {seconds:g} s")

    def _drop(self, response: bytes | None, what: str, drops: _DropLog = _slow) -> None:
        self._disarm()
        transport = self.transport
        if transport.is_closing():
            return
        drops.note(what, self.client)
        self._dropped = True
        if response is not None:
            transport.write(response)
        transport.close()  # stops reading; connection_lost tells a waiting app
