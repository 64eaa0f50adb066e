"""FastAPI glue for Twilio's voice and status webhooks and its media stream.

`POST /telephony/twilio/voice`, `POST /telephony/twilio/status`, `WS /telephony/twilio/stream`.
Needs `app.state.runtime` (a `CallHost`) and, for the stream, `app.state.call_core` (a
`telephony.media.CallCore`: the call core, bound to that runtime).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response, WebSocket

from voxroute.calls.host import CallHost
from voxroute.errors import InvalidInput, SignatureInvalid
from voxroute.telephony.media import CallCore
from voxroute.telephony.twilio.signature import public_request_url
from voxroute.telephony.twilio.stream import serve_media_stream
from voxroute.telephony.twilio.webhook import (
    TwilioRequest,
    handle_status_callback,
    handle_voice_webhook,
)

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/telephony/twilio", tags=["telephony"])
_XML = "application/xml"
_FORBIDDEN = "forbidden"


def _runtime(app_state: object) -> CallHost:
    runtime = getattr(app_state, "runtime", None)
    if runtime is None:
        raise RuntimeError("app.state.runtime (a CallHost) is not set")
    return runtime  # type: ignore[no-any-return]


def _call_core(app_state: object) -> CallCore:
    call_core = getattr(app_state, "call_core", None)
    if call_core is None:
        raise RuntimeError("app.state.call_core (a CallCore) is not set")
    return call_core  # type: ignore[no-any-return]


async def _twilio_request(request: Request, runtime: CallHost) -> TwilioRequest:
    limit = runtime.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise InvalidInput("body too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InvalidInput("body too large")
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("body is not a form") from exc
    url = public_request_url(
        runtime.settings.resolved_public_url, request.url.path, request.url.query
    )
    return TwilioRequest(
        url=url, params=params, signature=request.headers.get("x-twilio-signature")
    )


def _refusal(exc: InvalidInput | SignatureInvalid) -> Response:
    if isinstance(exc, SignatureInvalid):
        # One answer for an unknown number, a missing or a wrong signature and a foreign
        # AccountSid: an anonymous caller must not learn which numbers are registered.
        log.info("twilio webhook refused: %s", exc.message)
        return Response(content=_FORBIDDEN, status_code=403, media_type="text/plain")
    return Response(content=exc.message, status_code=exc.status_code, media_type="text/plain")


@router.post("/voice")
async def voice_webhook(request: Request) -> Response:
    """Incoming call: TwiML that connects the call to our media stream."""
    runtime = _runtime(request.app.state)
    try:
        answer = await handle_voice_webhook(runtime, await _twilio_request(request, runtime))
    except (InvalidInput, SignatureInvalid) as exc:
        return _refusal(exc)
    return Response(content=answer.twiml, status_code=answer.status_code, media_type=_XML)


@router.post("/status")
async def status_callback(request: Request) -> Response:
    """Call-progress callback (idempotent, monotonic)."""
    runtime = _runtime(request.app.state)
    try:
        ended = await handle_status_callback(runtime, await _twilio_request(request, runtime))
    except (InvalidInput, SignatureInvalid) as exc:
        return _refusal(exc)
    if ended is not None:
        await runtime.registry.hang_up(ended, "telephony_completed")
    return Response(status_code=204)


@router.websocket("/stream")
async def media_stream(websocket: WebSocket) -> None:
    """Twilio Media Streams: start (call token) → pipeline until stop or close."""
    state = websocket.app.state
    await serve_media_stream(websocket, _runtime(state), _call_core(state))
