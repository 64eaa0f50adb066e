"""The page's audio and wire code (`web/static/audio-wire.js`), run with node: μ-law is
bit-exact with audioop, resampling keeps the voice band, messages equal the Python client's."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np

from tests.web.page_client import PageMessages
from voxroute.softphone.audio import load_ulaw, ulaw_to_pcm16
from voxroute.web.pages import STATIC_DIR

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

WIRE = STATIC_DIR / "audio-wire.js"
UTTERANCE = Path(__file__).parents[1] / "data" / "audio" / "utterance-01.ulaw8k.wav"
SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32)


def run_node(script: str, stdin: bytes = b"") -> bytes:
    """Run `script` with `V` = the page's module; stdin and stdout are raw bytes."""
    node = shutil.which("node")
    assert node is not None, "node is required for the page's JavaScript tests"
    prelude = (
        "const V = require(process.argv[1]);"
        "const input = require('fs').readFileSync(0);"
        "const write = (b) => process.stdout.write(Buffer.from(b));"
    )
    done = subprocess.run(
        [node, "-e", prelude + script, str(WIRE)],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def reference_lin2ulaw(samples: np.ndarray) -> bytes:
    """Sun's G.711 encoder (what audioop.lin2ulaw implements), vectorized."""
    pcm = samples.astype(np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + 0x21
    seg = np.searchsorted(SEG_END, magnitude, side="left")
    code = (seg << 4) | ((magnitude >> (seg + 1)) & 0x0F)
    return bytes(np.where(seg >= 8, 0x7F ^ mask, code ^ mask).astype(np.uint8))


def test_the_numpy_reference_is_audioop() -> None:
    raw = ALL_INT16.astype("<i2").tobytes()
    assert reference_lin2ulaw(ALL_INT16) == audioop.lin2ulaw(raw, 2)


def test_js_encoder_matches_the_reference_for_every_16_bit_sample() -> None:
    out = run_node(
        "const pcm = new Int16Array(input.buffer, input.byteOffset, input.length / 2);"
        "write(V.encodeUlaw(pcm));",
        ALL_INT16.astype("<i2").tobytes(),
    )
    assert out == reference_lin2ulaw(ALL_INT16)


def test_js_decoder_matches_audioop_for_every_code() -> None:
    out = run_node("write(new Int16Array(V.decodeUlaw(input)).buffer);", bytes(range(256)))
    assert out == audioop.ulaw2lin(bytes(range(256)), 2)
    assert np.array_equal(np.frombuffer(out, "<i2"), ulaw_to_pcm16(bytes(range(256))))


def test_8khz_capture_passes_through_into_20ms_frames() -> None:
    """The utterance the live test sends, through the page's encoder at 8 kHz: same audio."""
    ulaw = load_ulaw(UTTERANCE)
    floats = (ulaw_to_pcm16(ulaw).astype(np.float32) / 32768).astype("<f4").tobytes()
    out = run_node(
        "const x = new Float32Array(input.buffer, input.byteOffset, input.length / 4);"
        "const enc = new V.UplinkEncoder(8000);"
        "const frames = [...enc.push(x.subarray(0, 1000)), ...enc.push(x.subarray(1000))];"
        "if (frames.some((f) => f.length !== 160)) throw new Error('bad frame');"
        "frames.forEach(write);",
        floats,
    )
    whole = len(ulaw) // 160 * 160
    assert len(out) == whole
    assert np.array_equal(ulaw_to_pcm16(out), ulaw_to_pcm16(ulaw[:whole]))


def _tone_rms(rate: int, hz: float) -> tuple[int, float]:
    out = run_node(
        f"const rate = {rate}, x = new Float32Array(rate);"
        f"for (let i = 0; i < rate; i++) x[i] = 0.5 * Math.sin(2 * Math.PI * {hz} * i / rate);"
        "const enc = new V.UplinkEncoder(rate); const frames = [];"
        "for (let i = 0; i < rate; i += 128) frames.push(...enc.push(x.subarray(i, i + 128)));"
        "frames.forEach(write);"
    )
    pcm = ulaw_to_pcm16(out[1600:]).astype(np.float64) / 32768  # after the filter settles
    return len(out), float(np.sqrt(np.mean(pcm**2)))


def test_browser_rates_are_resampled_to_8khz_keeping_the_voice_band() -> None:
    for rate in (48000, 44100):
        size, voice = _tone_rms(rate, 440)
        assert size == 8000, "one second in, 50 frames out"
        assert abs(voice - 0.5 / np.sqrt(2)) < 0.02
        _, alias = _tone_rms(rate, 6000)
        assert alias < voice / 10, "above 4 kHz is filtered, not folded back"


def test_js_messages_equal_the_python_page_client() -> None:
    ids = {
        "callSid": "WEBabc",
        "accountSid": "AC" + "0" * 32,
        "callToken": "tok-1",
        "streamSid": "MZfixed",
    }
    out = run_node(
        f"const m = new V.StreamMessages({json.dumps(ids)});"
        "const frame = Uint8Array.from({length: 160}, (_, i) => i);"
        "write(JSON.stringify([m.connected(), m.start(), m.media(frame), m.media(frame),"
        " m.mark('utt-1'), m.stop()]));"
    )
    py = PageMessages(
        call_sid="WEBabc", account_sid="AC" + "0" * 32, call_token="tok-1", stream_sid="MZfixed"
    )
    frame = bytes(range(160))
    expected = [
        py.connected(),
        py.start(),
        py.media(frame),
        py.media(frame),
        py.mark("utt-1"),
        py.stop(),
    ]
    assert json.loads(out) == expected


def test_received_media_decodes_to_floats_for_playback() -> None:
    out = run_node(
        "const f = V.decodeMediaPayload(V.toBase64(Uint8Array.from([0, 0x7f, 0x80, 0xff])));"
        "write(new Float32Array(f).buffer);"
    )
    expected = ulaw_to_pcm16(bytes([0, 0x7F, 0x80, 0xFF])).astype(np.float32) / 32768
    assert np.array_equal(np.frombuffer(out, "<f4"), expected)
