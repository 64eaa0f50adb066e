"""WAV in and out for the softphone: G.711 μ-law at 8 kHz, 20 ms frames."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

__all__ = [
    "FRAME_BYTES",
    "SILENCE_FRAME",
    "frames_of",
    "load_ulaw",
    "pcm16_to_ulaw",
    "ulaw_to_pcm16",
    "write_ulaw_wav",
]

SAMPLE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz μ-law
SILENCE_FRAME = b"\xff" * FRAME_BYTES
_BIAS = 0x84
_CLIP = 32635


def _decode_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_DECODE = _decode_table()


def ulaw_to_pcm16(data: bytes) -> np.ndarray:
    """Decode G.711 μ-law bytes to 16-bit PCM samples, by table lookup."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def pcm16_to_ulaw(samples: np.ndarray) -> bytes:
    """Encode 16-bit PCM samples as G.711 μ-law, as a phone line carries them."""
    pcm = samples.astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), _CLIP) + _BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return bytes(code.astype(np.uint8))


def _chunks(raw: bytes) -> dict[bytes, bytes]:
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    out: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack("<I", raw[pos + 4 : pos + 8])[0]
        out.setdefault(cid, raw[pos + 8 : pos + 8 + size])
        pos += 8 + size + (size & 1)
    return out


def load_ulaw(path: Path) -> bytes:
    """μ-law 8 kHz mono bytes from a μ-law 8 kHz WAV or a 16-bit PCM WAV (8 or 16 kHz)."""
    chunks = _chunks(path.read_bytes())
    fmt, data = chunks.get(b"fmt "), chunks.get(b"data")
    if fmt is None or data is None:
        raise ValueError(f"{path}: missing fmt or data chunk")
    audio_format, channels, rate = struct.unpack("<HHI", fmt[:8])
    bits = struct.unpack("<H", fmt[14:16])[0]
    if channels != 1:
        raise ValueError(f"{path}: only mono audio is supported")
    if audio_format == 7 and rate == SAMPLE_RATE:
        return data
    if audio_format == 1 and bits == 16 and rate in (8000, 16000):
        pcm = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int32)
        if rate == 16000:  # 2:1 decimation after a small low-pass (average of 4 taps)
            padded = np.concatenate([pcm, np.zeros(3, dtype=np.int32)])
            smooth = (padded[:-3] + 2 * padded[1:-2] + padded[2:-1]) // 4
            pcm = smooth[::2]
        return pcm16_to_ulaw(pcm)
    raise ValueError(f"{path}: need μ-law 8 kHz or 16-bit PCM at 8/16 kHz")


def frames_of(audio: bytes) -> list[bytes]:
    """20 ms frames; the last one padded with μ-law silence."""
    frames = [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] = frames[-1] + b"\xff" * (FRAME_BYTES - len(frames[-1]))
    return frames


def write_ulaw_wav(path: Path, audio: bytes) -> None:
    """Write received μ-law as a 16-bit PCM 8 kHz WAV (playable everywhere)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(ulaw_to_pcm16(audio).astype("<i2").tobytes())
