"""What keeps the emulators cheap on the load core must not change what they answer."""

from __future__ import annotations

import base64
import json
import warnings

import numpy as np
import pytest
import websockets

from voxroute.emulators import EmulatorSuite
from voxroute.emulators._audio import alaw_decode, decode, encode, tone, ulaw_decode
from voxroute.emulators._vad import UtteranceDetector

from .conftest import read_clip

DG_KEY = "dg-test-key-0123456789abcdef"
CARTESIA_KEY = "sk_car_test_0123456789"


async def test_websockets_never_negotiate_permessage_deflate(suite: EmulatorSuite) -> None:
    suite.register_key("deepgram", DG_KEY)
    suite.register_key("cartesia", CARTESIA_KEY)
    urls = {
        suite.base_urls["deepgram"].replace("http", "ws")
        + "/v1/listen?encoding=mulaw&sample_rate=8000": {"Authorization": f"Token {DG_KEY}"},
        suite.base_urls["cartesia"].replace("http", "ws") + "/tts/websocket": {
            "X-API-Key": CARTESIA_KEY
        },
    }
    for url, headers in urls.items():
        # The websockets client offers permessage-deflate by default.
        async with websockets.connect(url, additional_headers=headers) as ws:
            assert ws.response is not None
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None


def _events(data: bytes, chunk: int) -> list[tuple[str, float, float | None]]:
    """Kind and start of every event, and where an ended utterance's speech stopped (a
    segment's `now` is the end of the chunk, so it depends on the chunk size)."""
    detector = UtteranceDetector(8000, 400, 1000)
    events: list[tuple[str, float, float | None]] = []
    for start in range(0, len(data), chunk):
        for event in detector.feed(decode(data[start : start + chunk], "mulaw")):
            seg = event.segment
            events.append(
                (event.kind, seg.start, seg.last_voiced if event.kind == "ended" else None)
            )
    return events


def test_utterance_detection_does_not_depend_on_the_chunk_size() -> None:
    silence = b"\xff" * 8000
    clip = read_clip("utterance-02.ulaw8k.wav").data
    data = silence + clip + silence + silence + clip + silence
    twilio = _events(data, 160)  # one Twilio frame per message
    assert [kind for kind, *_ in twilio].count("ended") == 2
    for chunk in (800, 37, 8000):  # 100 ms batches, odd sizes, whole seconds
        assert _events(data, chunk) == twilio


def test_g711_decode_tables_match_audioop() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    every_code = bytes(range(256))
    assert ulaw_decode(every_code).astype("<i2").tobytes() == audioop.ulaw2lin(every_code, 2)
    assert alaw_decode(every_code).astype("<i2").tobytes() == audioop.alaw2lin(every_code, 2)
    assert ulaw_decode(b"").dtype == np.int16


@pytest.mark.parametrize("encoding", ["pcm_mulaw", "pcm_s16le"])
async def test_cartesia_repeats_a_sentence_with_the_same_audio(
    suite: EmulatorSuite, encoding: str
) -> None:
    suite.register_key("cartesia", CARTESIA_KEY)
    url = suite.base_urls["cartesia"].replace("http", "ws") + "/tts/websocket"
    text = "How else can I help?"
    fmt = {"container": "raw", "encoding": encoding, "sample_rate": 8000}
    audio: dict[str, bytes] = {}
    async with websockets.connect(url, additional_headers={"X-API-Key": CARTESIA_KEY}) as ws:
        for context in ("c1", "c2"):
            request = {
                "context_id": context,
                "model_id": "sonic-3",
                "transcript": text,
                "voice": {"mode": "id", "id": "v"},
                "output_format": fmt,
            }
            await ws.send(json.dumps(request))
            chunks = []
            while (message := json.loads(await ws.recv()))["type"] != "done":
                chunks.append(base64.b64decode(message["data"]))
            audio[context] = b"".join(chunks)
    internal = "mulaw" if encoding == "pcm_mulaw" else "pcm16"
    assert audio["c1"] == audio["c2"] == encode(tone(text, 8000), internal)
