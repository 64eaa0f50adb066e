"""Media messages as Twilio writes them skip json.loads; the result is the general path's.

`parse_message` matches Twilio's compact media message with one pattern and decodes it
directly. Every case here is run through both `parse_message` and the general JSON path
(`_parse_json`): same `Media`, or a `ProtocolError` from both.
"""

from __future__ import annotations

import base64
import random

import pytest

from voxroute.telephony.twilio import protocol
from voxroute.telephony.twilio.protocol import (
    MAX_MEDIA_PAYLOAD_BYTES,
    Media,
    Message,
    ProtocolError,
    parse_message,
)

LIMIT = 64 * 1024
SID = "MZ" + "0123456789abcdef" * 2
PAYLOAD = base64.b64encode(bytes(range(160))).decode()


def media_message(
    *,
    sid_before: str | None = None,
    sid_after: str | None = SID,
    track: str = "inbound",
    payload: str = PAYLOAD,
    sequence: str = "4",
) -> str:
    before = f'"streamSid":"{sid_before}",' if sid_before is not None else ""
    after = f',"streamSid":"{sid_after}"' if sid_after is not None else ""
    return (
        f'{{"event":"media","sequenceNumber":"{sequence}",{before}"media":{{"track":"{track}",'
        f'"chunk":"2","timestamp":"40","payload":"{payload}"}}{after}}}'
    )


def outcome(parse: object, raw: str) -> Message | str:
    try:
        return parse(raw)  # type: ignore[operator,no-any-return]
    except ProtocolError as exc:
        return f"ProtocolError: {exc}"


def both_paths(raw: str) -> tuple[Message | str, Message | str]:
    return (
        outcome(lambda r: parse_message(r, max_bytes=LIMIT), raw),
        outcome(protocol._parse_json, raw),
    )


def is_fast(raw: str) -> bool:
    return protocol._MEDIA_AS_SENT.fullmatch(raw) is not None


@pytest.mark.parametrize(
    "raw",
    [
        media_message(),  # Twilio's documented order: media, then streamSid
        media_message(sid_before=SID, sid_after=None),  # streamSid first (the load generator)
        media_message(sid_before="MZother", sid_after=SID),  # duplicated: JSON keeps the last
        media_message(sid_after=None),  # no streamSid at all: ""
        media_message(sid_after=""),
        media_message(track="outbound"),
        media_message(track=""),
        media_message(payload=""),
        media_message(sequence=""),
    ],
)
def test_twilio_shaped_media_takes_the_fast_path_with_the_general_result(raw: str) -> None:
    assert is_fast(raw)
    fast, general = both_paths(raw)
    assert isinstance(fast, Media)
    assert fast == general


@pytest.mark.parametrize(
    "raw",
    [
        media_message(payload="abc"),  # bad padding
        media_message(payload="a===" * 4),
        media_message(payload="A" * ((MAX_MEDIA_PAYLOAD_BYTES * 4) // 3 + 8)),
    ],
)
def test_bad_payloads_fail_the_same_way_on_the_fast_path(raw: str) -> None:
    assert is_fast(raw)
    fast, general = both_paths(raw)
    assert isinstance(fast, str) and fast == general


@pytest.mark.parametrize(
    "raw",
    [
        media_message().replace('"media":{', '"media": {'),  # whitespace
        media_message(sid_after="MZ" + "a" * 63),  # over the 64-character limit
        media_message(sequence="\u0663"),  # a non-ASCII digit: valid JSON, not Twilio's
        media_message(track="in\\u0062ound"),  # an escape
        media_message().replace('"event":"media"', '"event":"mark"'),
        media_message()[:-1],  # truncated
        media_message() + " ",
    ],
)
def test_anything_else_takes_the_general_path(raw: str) -> None:
    assert not is_fast(raw)
    fast, general = both_paths(raw)
    assert fast == general


def test_single_character_mutations_agree_with_the_general_path() -> None:
    """Every mutation the pattern still matches decodes as the general path would."""
    rng = random.Random(20261203)
    base = media_message()
    alphabet = '{}[]":,\\ =+/0aZ_\u0663\x00'
    matched = 0
    for _ in range(3000):
        i = rng.randrange(len(base))
        raw = base[:i] + rng.choice(alphabet) + base[i + 1 :]
        fast, general = both_paths(raw)
        assert fast == general, raw
        matched += is_fast(raw)
    assert matched > 100, "the mutations should exercise the fast path too"
