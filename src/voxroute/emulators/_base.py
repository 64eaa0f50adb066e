"""The aiohttp application every provider emulator is built on.

A subclass says how its provider reads the key from a request and how its provider words
errors; this base does the rest: control endpoints under ``/_emulator/``, request logging,
on-demand and per-key faults, base latency, and closing open websockets on shutdown.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from aiohttp import web

from ._core import (
    BadInput,
    Dropped,
    Exchange,
    Fault,
    FaultQueue,
    KeyRecord,
    KeyRegistry,
    RequestLog,
)

__all__ = [
    "Emulator",
    "Handler",
    "exchange_of",
    "public",
    "read_json_object",
    "websocket_response",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_F = TypeVar("_F", bound=Callable[..., Any])

EXCHANGE_KEY = web.RequestKey("voxroute.exchange", Exchange)
DEFAULT_SCRIPT: tuple[str, ...] = (
    "Hello, I would like to book a table for two people tonight.",
    "What time do you open on Saturday?",
    "Can you transfer me to a human agent, please?",
    "Thank you, that is all. Goodbye.",
)


def public(func: _F) -> _F:
    """Mark a route handler as needing no key (status probes)."""
    func.__voxroute_public__ = True  # type: ignore[attr-defined]
    return func


def exchange_of(request: web.Request) -> Exchange:
    """The exchange the middleware attached to this request."""
    return request[EXCHANGE_KEY]


def websocket_response(protocols: Sequence[str] = ()) -> web.WebSocketResponse:
    """A server websocket that never negotiates permessage-deflate.

    On loopback, deflating every audio message only costs CPU (the real providers'
    compression is not emulated).
    """
    return web.WebSocketResponse(protocols=tuple(protocols), compress=False)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """Parse the body as a JSON object or raise BadInput."""
    try:
        data = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadInput("body must be a JSON object")
    return data


class Emulator:
    """One provider emulator: an aiohttp app plus its keys, log, faults and script."""

    provider: ClassVar[str] = ""

    def __init__(self, *, latency_ms: int = 0) -> None:
        self.latency_ms = latency_ms
        self.keys = KeyRegistry()
        self.log = RequestLog()
        self.faults = FaultQueue()
        self.script: list[str] = list(DEFAULT_SCRIPT)
        self._sockets: set[web.WebSocketResponse] = set()

    # ----- provider hooks ---------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the provider's own routes."""
        raise NotImplementedError

    def add_control_routes(self, router: web.UrlDispatcher) -> None:
        """Extra ``/_emulator/…`` routes of one provider (none by default)."""

    def extract_key(self, request: web.Request) -> str | None:
        """The key presented by this request, the way the provider reads it."""
        raise NotImplementedError

    def resolve_key(self, request: web.Request) -> tuple[str | None, KeyRecord | None]:
        """The presented key and its record (Azure overrides this to accept its tokens)."""
        presented = self.extract_key(request)
        return presented, self.keys.lookup(presented)

    def key_matches(self, request: web.Request, key: KeyRecord) -> bool:
        """Extra checks on a known key (e.g. Azure region, Twilio account)."""
        return True

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """The provider's answer to a missing or unknown key."""
        raise NotImplementedError

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """The provider's answer for an injected error status."""
        return web.json_response({"error": "injected fault"}, status=status)

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """The provider's answer to malformed input."""
        return web.json_response({"error": message}, status=400)

    def register_extra(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Validate provider-specific registration fields (region, account_sid, …)."""
        unknown = set(body) - {"restricted"}
        if unknown:
            raise BadInput(f"unknown registration fields: {sorted(unknown)}")
        restricted = body.get("restricted", False)
        if not isinstance(restricted, bool):
            raise BadInput("restricted must be a boolean")
        return {"restricted": True} if restricted else {}

    # ----- public API used by the suite -------------------------------------------------

    def register_key(self, api_key: str, *, fault: Fault | None = None, **extra: Any) -> str:
        """Register a key and return its key_id."""
        fields = self.register_extra(extra)
        return self.keys.register(api_key, fault=fault, extra=fields).key_id

    def track(self, ws: web.WebSocketResponse) -> None:
        """Remember an open websocket so shutdown can close it."""
        self._sockets.add(ws)

    def untrack(self, ws: web.WebSocketResponse) -> None:
        """Forget a websocket that has closed."""
        self._sockets.discard(ws)

    def build_app(self) -> web.Application:
        """The aiohttp application serving this emulator."""
        app = web.Application(middlewares=[self._middleware], client_max_size=8 * 1024 * 1024)
        app.router.add_post("/_emulator/keys", self._control_keys)
        app.router.add_get("/_emulator/requests", self._control_requests)
        app.router.add_delete("/_emulator/requests", self._control_clear)
        app.router.add_post("/_emulator/faults", self._control_faults)
        app.router.add_post("/_emulator/script", self._control_script)
        self.add_control_routes(app.router)
        self.add_routes(app.router)
        app.on_shutdown.append(self._close_sockets)
        return app

    # ----- internals --------------------------------------------------------------------

    async def _close_sockets(self, app: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"emulator shutting down")
        self._sockets.clear()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_emulator/"):
            try:
                return await handler(request)
            except BadInput as exc:
                return web.json_response({"error": str(exc)}, status=400)
        record = self.log.add(request.method, request.path)
        presented, key = self.resolve_key(request)
        record.key_id = key.key_id if key else None
        route_handler = request.match_info.route.handler
        is_public = getattr(route_handler, "__voxroute_public__", False)
        fault = self.faults.take()
        exchange = Exchange(request, record, key, fault, self.latency_ms)
        request[EXCHANGE_KEY] = exchange
        response: web.StreamResponse
        try:
            if fault and fault.status:
                response = self.fault_error(request, fault.status)
            elif not is_public and (key is None or not self.key_matches(request, key)):
                response = self.auth_error(request, presented)
            else:
                if fault is None and key is not None and key.fault is not None:
                    exchange = Exchange(request, record, key, key.fault, self.latency_ms)
                    request[EXCHANGE_KEY] = exchange
                if exchange.fault and exchange.fault.status:
                    response = self.fault_error(request, exchange.fault.status)
                else:
                    response = await handler(request)
        except BadInput as exc:
            response = self.bad_request(request, str(exc))
        except web.HTTPException as exc:
            record.status = exc.status
            raise
        except Dropped:
            return web.Response(status=499)  # never sent: the transport is already gone
        if not response.prepared:
            await exchange.first_byte()
            if exchange.disconnect and isinstance(response, web.Response):
                return await self._drop_midway(exchange, response)
        if record.status is None:
            record.status = response.status
        return response

    async def _drop_midway(self, exchange: Exchange, response: web.Response) -> web.Response:
        """Send the headers and half of a fixed body, then abort the connection."""
        body = response.body if isinstance(response.body, bytes) else b""
        stream = web.StreamResponse(status=response.status, headers=response.headers)
        stream.content_length = len(body)
        await stream.prepare(exchange.request)
        exchange.record.status = response.status
        await stream.write(body[: max(1, len(body) // 2)])
        with contextlib.suppress(Dropped):
            exchange.drop()
        return web.Response(status=499)

    async def _control_keys(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        api_key = body.pop("api_key", None)
        if not isinstance(api_key, str) or not api_key:
            raise BadInput("api_key must be a non-empty string")
        fault = Fault.parse(body.pop("fault")) if body.get("fault") is not None else None
        body.pop("fault", None)
        key_id = self.register_key(api_key, fault=fault, **body)
        return web.json_response({"key_id": key_id})

    async def _control_requests(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": [r.as_json() for r in self.log.snapshot()]})

    async def _control_clear(self, request: web.Request) -> web.Response:
        self.log.clear()
        return web.json_response({"requests": []})

    async def _control_faults(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        fault = Fault.parse(body.get("fault"))
        count = body.get("count", 1)
        self.faults.push(fault, count)
        return web.json_response({"fault": fault.as_json(), "count": count})

    async def _control_script(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        phrases = body.get("phrases")
        if (
            not isinstance(phrases, list)
            or not phrases
            or not all(isinstance(p, str) and p.strip() for p in phrases)
        ):
            raise BadInput("phrases must be a non-empty list of non-empty strings")
        self.script = list(phrases)
        return web.json_response({"phrases": self.script})
