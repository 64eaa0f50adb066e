"""Shared state of every emulator: key registry, request log, faults and per-request exchange.

Keys are never stored: the registry keeps the SHA-256 digest of each key and a short id
derived from it (``k_<8 hex>``), so neither the log nor any control answer can leak a key.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn

from aiohttp import web

__all__ = [
    "BadInput",
    "Dropped",
    "Exchange",
    "Fault",
    "FaultQueue",
    "KeyRecord",
    "KeyRegistry",
    "RequestLog",
    "RequestRecord",
    "key_id_for",
]

FAULT_STATUSES = frozenset({401, 403, 429, 500, 503})
# A disconnect fault lets this many chunks or messages out before dropping the connection,
# so clients see a stream that started and then died rather than a refused request.
DROP_AFTER_CHUNKS = 2


class BadInput(ValueError):
    """Malformed control or provider input; handlers turn it into a 400."""


class Dropped(Exception):  # noqa: N818 - it is a signal, not an error condition
    """Raised after a disconnect fault aborted the transport, to unwind the handler."""


def key_id_for(api_key: str) -> str:
    """Short public id of a key: the first 8 hex digits of its SHA-256 digest."""
    return "k_" + hashlib.sha256(api_key.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Fault:
    """What to do to a request instead of (or on top of) answering it normally."""

    status: int | None = None
    first_byte_delay_ms: int = 0
    disconnect: bool = False

    @classmethod
    def parse(cls, raw: object) -> Fault:
        """Validate a fault object from JSON; raises BadInput on any wrong field."""
        if not isinstance(raw, Mapping):
            raise BadInput("fault must be an object")
        unknown = set(raw) - {"status", "first_byte_delay_ms", "disconnect"}
        if unknown:
            raise BadInput(f"unknown fault fields: {sorted(unknown)}")
        status = raw.get("status")
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or status not in FAULT_STATUSES
        ):
            raise BadInput(f"fault.status must be one of {sorted(FAULT_STATUSES)}")
        delay = raw.get("first_byte_delay_ms", 0)
        if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 600_000:
            raise BadInput("fault.first_byte_delay_ms must be an integer 0..600000")
        disconnect = raw.get("disconnect", False)
        if not isinstance(disconnect, bool):
            raise BadInput("fault.disconnect must be a boolean")
        return cls(status=status, first_byte_delay_ms=delay, disconnect=disconnect)

    def as_json(self) -> dict[str, Any]:
        """JSON form, as accepted by :meth:`parse`."""
        return asdict(self)


@dataclass(frozen=True)
class KeyRecord:
    """A registered key: its public id, optional standing fault and provider extras."""

    key_id: str
    fault: Fault | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class KeyRegistry:
    """Registered keys of one emulator, indexed by the SHA-256 digest of the key."""

    def __init__(self) -> None:
        self._by_digest: dict[str, KeyRecord] = {}

    def register(
        self, api_key: str, *, fault: Fault | None = None, extra: Mapping[str, Any] | None = None
    ) -> KeyRecord:
        """Add or replace a key (idempotent: the same key always gets the same id)."""
        if not isinstance(api_key, str) or not api_key.strip():
            raise BadInput("api_key must be a non-empty string")
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        record = KeyRecord(key_id=key_id_for(api_key), fault=fault, extra=dict(extra or {}))
        self._by_digest[digest] = record
        return record

    def lookup(self, api_key: str | None) -> KeyRecord | None:
        """The record for a presented key, or None when absent or unknown."""
        if not api_key:
            return None
        return self._by_digest.get(hashlib.sha256(api_key.encode()).hexdigest())


@dataclass
class RequestRecord:
    """One request as seen by an emulator; status stays None until an answer is chosen."""

    method: str
    path: str
    time: float
    key_id: str | None
    status: int | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON form served by ``GET /_emulator/requests``."""
        return asdict(self)


class RequestLog:
    """Bounded in-memory log; the path is logged without its query (keys travel there)."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)

    def add(self, method: str, path: str) -> RequestRecord:
        """Start a record for a request that just arrived."""
        record = RequestRecord(method=method, path=path, time=time.time(), key_id=None)
        self._records.append(record)
        return record

    def snapshot(self) -> list[RequestRecord]:
        """Copies of the records, oldest first."""
        return [RequestRecord(**asdict(r)) for r in self._records]

    def clear(self) -> None:
        """Forget every record."""
        self._records.clear()


class FaultQueue:
    """On-demand faults: each entry applies to the next ``count`` requests, in order."""

    def __init__(self) -> None:
        self._pending: deque[list[Any]] = deque()

    def push(self, fault: Fault, count: int) -> None:
        """Queue ``fault`` for the next ``count`` requests."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100_000:
            raise BadInput("count must be an integer 1..100000")
        self._pending.append([fault, count])

    def take(self) -> Fault | None:
        """The fault for the request arriving now, if any."""
        if not self._pending:
            return None
        entry = self._pending[0]
        entry[1] -= 1
        if entry[1] <= 0:
            self._pending.popleft()
        fault: Fault = entry[0]
        return fault

    def clear(self) -> None:
        """Drop every pending fault."""
        self._pending.clear()


class Exchange:
    """Output side of one request: first-byte delay once, chunk counting, disconnect faults.

    Handlers send everything through this object so that latency and faults behave the
    same for HTTP bodies, SSE/NDJSON streams and websocket messages.
    """

    def __init__(
        self,
        request: web.Request,
        record: RequestRecord,
        key: KeyRecord | None,
        fault: Fault | None,
        latency_ms: int,
    ) -> None:
        self.request = request
        self.record = record
        self.key = key
        self.fault = fault
        delay_ms = latency_ms + (fault.first_byte_delay_ms if fault else 0)
        self._delay_s = delay_ms / 1000.0
        self._delayed = False
        self._sent = 0

    @property
    def disconnect(self) -> bool:
        """Whether this exchange must be dropped mid-stream."""
        return bool(self.fault and self.fault.disconnect)

    async def first_byte(self) -> None:
        """Wait the configured latency plus any fault delay, the first time only."""
        if not self._delayed:
            self._delayed = True
            if self._delay_s > 0:
                await asyncio.sleep(self._delay_s)

    def drop(self) -> NoReturn:
        """Abort the TCP connection without a close handshake and unwind the handler."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        raise Dropped

    def _count(self) -> None:
        self._sent += 1
        if self.disconnect and self._sent >= DROP_AFTER_CHUNKS:
            self.drop()

    async def prepare(self, response: web.StreamResponse) -> None:
        """Send the headers of a streamed HTTP answer."""
        await self.first_byte()
        await response.prepare(self.request)
        self.record.status = response.status

    async def write(self, response: web.StreamResponse, data: bytes) -> None:
        """Write one chunk of a streamed HTTP answer."""
        await response.write(data)
        self._count()

    async def upgrade(self, ws: web.WebSocketResponse) -> None:
        """Complete a websocket handshake (the delay applies to the first message instead)."""
        await ws.prepare(self.request)
        self.record.status = 101

    async def send_str(self, ws: web.WebSocketResponse, data: str) -> None:
        """Send one text message on a websocket."""
        await self.first_byte()
        await ws.send_str(data)
        self._count()

    async def send_bytes(self, ws: web.WebSocketResponse, data: bytes) -> None:
        """Send one binary message on a websocket."""
        await self.first_byte()
        await ws.send_bytes(data)
        self._count()
