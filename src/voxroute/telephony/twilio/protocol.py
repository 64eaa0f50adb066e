"""Twilio Media Streams messages, parsed and validated (Twilio → us).

Every message is a JSON text frame. Anything malformed raises `ProtocolError`, whose message
names the problem but never echoes the payload.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from voxroute.errors import TelephonyError

__all__ = [
    "MAX_MEDIA_PAYLOAD_BYTES",
    "Connected",
    "Dtmf",
    "Mark",
    "Media",
    "Message",
    "ProtocolError",
    "Start",
    "Stop",
    "parse_message",
]

# 20 ms of 8 kHz μ-law is 160 bytes; accept up to one second per frame, refuse more.
MAX_MEDIA_PAYLOAD_BYTES = 8000
_MAX_PAYLOAD_CHARS = (MAX_MEDIA_PAYLOAD_BYTES * 4) // 3 + 4  # its base64 length
_MAX_ID = 64
_MAX_PARAMS = 32
_MAX_PARAM_CHARS = 512
_DTMF_DIGITS = frozenset("0123456789*#ABCD")


# A media message as Twilio writes it: compact, its keys in Twilio's order, the streamSid
# before or after the media object. Matched whole it is valid JSON holding exactly what
# the pattern captures, so the hot path (50 messages a second per call) skips json.loads
# and the dict walks; anything else (whitespace, other orders, escapes) takes the general
# path, which gives the same result. `tests/telephony/test_protocol_fast_path.py` compares the two.
_MEDIA_AS_SENT = re.compile(
    r'\{"event":"media","sequenceNumber":"[0-9]{0,20}",'
    r'(?:"streamSid":"(?P<sid_before>[A-Za-z0-9]{0,64})",)?'
    r'"media":\{"track":"(?P<track>[A-Za-z_]{0,32})","chunk":"[0-9]{0,20}",'
    r'"timestamp":"[0-9]{0,20}","payload":"(?P<payload>[A-Za-z0-9+/=]*)"\}'
    r'(?:,"streamSid":"(?P<sid_after>[A-Za-z0-9]{0,64})")?\}'
)


class ProtocolError(TelephonyError, ValueError):
    """A media-stream message that breaks the protocol."""

    code = "protocol_error"


@dataclass(frozen=True, slots=True)
class Connected:
    """Twilio's first message on a media stream."""

    protocol: str


@dataclass(frozen=True, slots=True)
class Start:
    """The stream's metadata: its ids, custom parameters and audio format."""

    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000


@dataclass(frozen=True, slots=True)
class Media:
    """One chunk of the caller's audio, decoded from base64."""

    stream_sid: str
    payload: bytes
    track: str = "inbound"


@dataclass(frozen=True, slots=True)
class Mark:
    """Twilio's note that audio up to a mark we sent has played."""

    stream_sid: str
    name: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    """A key the caller pressed."""

    stream_sid: str
    digit: str


@dataclass(frozen=True, slots=True)
class Stop:
    """The end of the media stream."""

    stream_sid: str


Message = Connected | Start | Media | Mark | Dtmf | Stop


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be an object")
    return value


def _str(value: Any, what: str, limit: int = _MAX_ID, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise ProtocolError(f"{what} must be a string of at most {limit} characters")
    return value


def _parse_start(msg: dict[str, Any]) -> Start:
    body = _obj(msg.get("start"), "start")
    params_raw = body.get("customParameters") or {}
    params = _obj(params_raw, "start.customParameters")
    if len(params) > _MAX_PARAMS:
        raise ProtocolError("too many customParameters")
    custom = {
        _str(k, "parameter name"): _str(v, "parameter value", _MAX_PARAM_CHARS)
        for k, v in params.items()
    }
    fmt = _obj(body.get("mediaFormat") or {}, "start.mediaFormat")
    encoding = _str(fmt.get("encoding", "audio/x-mulaw"), "mediaFormat.encoding")
    rate = fmt.get("sampleRate", 8000)
    if encoding != "audio/x-mulaw" or rate != 8000:
        raise ProtocolError("only audio/x-mulaw at 8000 Hz is supported")
    stream_sid = _str(body.get("streamSid") or msg.get("streamSid"), "streamSid")
    return Start(
        stream_sid=stream_sid,
        call_sid=_str(body.get("callSid"), "start.callSid"),
        account_sid=_str(body.get("accountSid"), "start.accountSid"),
        custom_parameters=custom,
        encoding=encoding,
        sample_rate=8000,
    )


def _parse_media(msg: dict[str, Any]) -> Media:
    media = _obj(msg.get("media"), "media")
    payload = media.get("payload")
    if not isinstance(payload, str):
        raise ProtocolError("media.payload must be a base64 string")
    track = media.get("track", "inbound")
    return _media(
        _str(msg.get("streamSid"), "streamSid", required=False),
        payload,
        track if isinstance(track, str) else "inbound",
    )


def _media(stream_sid: str, payload: str, track: str) -> Media:
    if len(payload) > _MAX_PAYLOAD_CHARS:
        raise ProtocolError("media.payload is too large")
    try:
        audio = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("media.payload is not valid base64") from exc
    return Media(stream_sid=stream_sid, payload=audio, track=track)


def parse_message(raw: str | bytes, *, max_bytes: int) -> Message:
    """Parse one websocket message; raise ProtocolError on anything malformed or unknown."""
    if len(raw) > max_bytes:
        raise ProtocolError("message is too large")
    if isinstance(raw, bytes):
        raise ProtocolError("binary messages are not part of the protocol")
    as_sent = _MEDIA_AS_SENT.fullmatch(raw)
    if as_sent is not None:
        # A duplicated key keeps its last value in JSON; a missing streamSid is "".
        sid = as_sent["sid_after"] if as_sent["sid_after"] is not None else as_sent["sid_before"]
        return _media(sid or "", as_sent["payload"], as_sent["track"])
    return _parse_json(raw)


def _parse_json(raw: str) -> Message:
    """The general path: any JSON text message."""
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("message is not valid JSON") from exc
    msg = _obj(msg, "message")
    event = msg.get("event")
    sid = msg.get("streamSid")
    if event == "media":
        return _parse_media(msg)
    if event == "start":
        return _parse_start(msg)
    if event == "connected":
        return Connected(protocol=_str(msg.get("protocol", "Call"), "protocol"))
    if event == "mark":
        mark = _obj(msg.get("mark"), "mark")
        return Mark(stream_sid=_str(sid, "streamSid"), name=_str(mark.get("name"), "mark.name"))
    if event == "dtmf":
        digit = _obj(msg.get("dtmf"), "dtmf").get("digit")
        if not isinstance(digit, str) or digit not in _DTMF_DIGITS:
            raise ProtocolError("dtmf.digit is not a keypad digit")
        return Dtmf(stream_sid=_str(sid, "streamSid"), digit=digit)
    if event == "stop":
        return Stop(stream_sid=_str(sid, "streamSid"))
    raise ProtocolError("unknown event")
