from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import pytest

from voxroute.telephony.twilio.protocol import (
    Dtmf,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    parse_message,
)
from voxroute.telephony.twilio.twiml import reject_twiml, stream_twiml, stream_url

LIMIT = 64 * 1024


def test_stream_url_is_wss_for_https_and_ws_for_http() -> None:
    assert (
        stream_url("https://voice.example.com") == "wss://voice.example.com/telephony/twilio/stream"
    )
    assert stream_url("http://127.0.0.1:9000/") == "ws://127.0.0.1:9000/telephony/twilio/stream"


def test_stream_twiml_carries_the_call_token_as_a_parameter() -> None:
    xml = stream_twiml("wss://h/telephony/twilio/stream", {"call_token": 'a"<b'})
    stream = ET.fromstring(xml).find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://h/telephony/twilio/stream"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params == {"call_token": 'a"<b'}


def test_reject_twiml_is_a_reject_verb() -> None:
    assert ET.fromstring(reject_twiml("busy")).find("Reject") is not None


def _msg(**body: object) -> str:
    return json.dumps(body)


def test_parse_start_reads_custom_parameters_and_ids() -> None:
    start = parse_message(
        _msg(
            event="start",
            streamSid="MZ1",
            start={
                "streamSid": "MZ1",
                "callSid": "CA1",
                "accountSid": "AC1",
                "customParameters": {"call_token": "t"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        ),
        max_bytes=LIMIT,
    )
    assert start == Start("MZ1", "CA1", "AC1", {"call_token": "t"})


def test_parse_media_decodes_the_payload() -> None:
    payload = base64.b64encode(b"\xff" * 160).decode()
    media = parse_message(
        _msg(event="media", streamSid="MZ1", media={"payload": payload}), max_bytes=LIMIT
    )
    assert isinstance(media, Media) and media.payload == b"\xff" * 160


def test_parse_mark_dtmf_and_stop() -> None:
    assert parse_message(
        _msg(event="mark", streamSid="MZ", mark={"name": "u1"}), max_bytes=LIMIT
    ) == Mark("MZ", "u1")
    assert parse_message(
        _msg(event="dtmf", streamSid="MZ", dtmf={"digit": "5"}), max_bytes=LIMIT
    ) == Dtmf("MZ", "5")
    assert parse_message(_msg(event="stop", streamSid="MZ", stop={}), max_bytes=LIMIT) == Stop("MZ")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be an object"),
        (_msg(event="media", streamSid="MZ", media={"payload": "!!notbase64!!"}), "base64"),
        (_msg(event="media", streamSid="MZ", media={"payload": "A" * 20000}), "too large"),
        (_msg(event="media", streamSid="MZ", media={}), "base64 string"),
        (_msg(event="dtmf", streamSid="MZ", dtmf={"digit": "x"}), "keypad"),
        (_msg(event="teleport"), "unknown event"),
        (
            _msg(
                event="start",
                start={
                    "callSid": "CA",
                    "accountSid": "AC",
                    "streamSid": "MZ",
                    "mediaFormat": {"encoding": "audio/l16", "sampleRate": 16000},
                },
            ),
            "mulaw",
        ),
    ],
)
def test_malformed_messages_are_rejected_without_echoing_them(raw: str, problem: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_message(raw, max_bytes=LIMIT)
    assert problem in str(info.value)
    assert "notbase64" not in str(info.value)


def test_oversized_and_binary_messages_are_rejected() -> None:
    with pytest.raises(ProtocolError):
        parse_message("x" * 2000, max_bytes=1024)
    with pytest.raises(ProtocolError):
        parse_message(b"\x00\x01", max_bytes=1024)
