"""Audio helpers: deterministic TTS tone, G.711 codecs, WAV headers, text timing.

G.711 is done with numpy (not ``audioop``, which is deprecated in 3.11 and gone in 3.13)
following the reference Sun ``g711.c`` algorithm, so it matches ``audioop`` bit for bit.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

__all__ = [
    "CHUNK_MS",
    "MS_PER_CHAR",
    "Samples",
    "alaw_decode",
    "alaw_encode",
    "char_timings",
    "chunk_bytes",
    "decode",
    "encode",
    "speech_duration_s",
    "text_chunks",
    "tone",
    "ulaw_decode",
    "ulaw_encode",
    "wav_header",
    "word_timings",
]

Samples = npt.NDArray[np.int16]

MS_PER_CHAR = 60
MIN_DURATION_MS = 200
CHUNK_MS = 100
AMPLITUDE = 0.3 * 32767

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def speech_duration_s(text: str) -> float:
    """Synthesized length of ``text``: 60 ms per character (outer spaces excluded), >= 200 ms."""
    return max(MIN_DURATION_MS, MS_PER_CHAR * len(text.strip())) / 1000.0


def tone(text: str, sample_rate: int) -> Samples:
    """A sine whose pitch (220–440 Hz) is derived from the text and whose length is its duration."""
    frequency = 220 + zlib.crc32(text.encode()) % 221
    n = int(round(speech_duration_s(text) * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    wave = AMPLITUDE * np.sin(2 * np.pi * frequency * t)
    ramp = min(n // 2, sample_rate // 200)  # 5 ms fades avoid clicks at the edges
    if ramp:
        envelope = np.linspace(0.0, 1.0, ramp)
        wave[:ramp] *= envelope
        wave[-ramp:] *= envelope[::-1]
    return wave.astype(np.int16)


def ulaw_encode(pcm: Samples) -> bytes:
    """16-bit linear → G.711 μ-law (14-bit variant of g711.c, as ``audioop`` does)."""
    x = pcm.astype(np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    x = np.minimum(np.abs(x), _ULAW_CLIP >> 2) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, x)
    uval = np.where(
        seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | ((x >> (np.minimum(seg, 7) + 1)) & 0xF)
    )
    return ((uval ^ mask) & 0xFF).astype(np.uint8).tobytes()


def _ulaw_table() -> Samples:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u >> 4) & 0x07)
    return np.where(u & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS).astype(np.int16)


_ULAW_DECODE = _ulaw_table()


def ulaw_decode(data: bytes) -> Samples:
    """G.711 μ-law → 16-bit linear (a table lookup: the STT emulators decode every chunk)."""
    decoded: Samples = _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
    return decoded


def alaw_encode(pcm: Samples) -> bytes:
    """16-bit linear → G.711 A-law."""
    x = pcm.astype(np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    seg = np.searchsorted(_ALAW_SEG_END, x)
    shifted = np.where(seg < 2, x >> 1, x >> np.maximum(seg, 1))
    aval = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | (shifted & 0x0F))
    return ((aval ^ mask) & 0xFF).astype(np.uint8).tobytes()


def _alaw_table() -> Samples:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(
        seg == 0, t + 8, np.where(seg == 1, t + 0x108, (t + 0x108) << np.maximum(seg - 1, 0))
    )
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ALAW_DECODE = _alaw_table()


def alaw_decode(data: bytes) -> Samples:
    """G.711 A-law → 16-bit linear (a table lookup, as for μ-law)."""
    decoded: Samples = _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
    return decoded


def encode(pcm: Samples, encoding: str) -> bytes:
    """Encode samples as ``pcm16`` (s16le), ``f32`` (f32le), ``mulaw`` or ``alaw``."""
    if encoding == "pcm16":
        return pcm.astype("<i2").tobytes()
    if encoding == "f32":
        return (pcm.astype(np.float32) / 32768.0).astype("<f4").tobytes()
    if encoding == "mulaw":
        return ulaw_encode(pcm)
    if encoding == "alaw":
        return alaw_encode(pcm)
    raise ValueError(f"unsupported encoding {encoding!r}")


def decode(data: bytes, encoding: str) -> Samples:
    """Decode ``pcm16``, ``mulaw`` or ``alaw`` bytes (a trailing odd byte is ignored)."""
    if encoding == "pcm16":
        usable = len(data) - len(data) % 2
        return np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)
    if encoding == "mulaw":
        return ulaw_decode(data)
    if encoding == "alaw":
        return alaw_decode(data)
    raise ValueError(f"unsupported encoding {encoding!r}")


def bytes_per_sample(encoding: str) -> int:
    """Width of one encoded sample."""
    return {"pcm16": 2, "f32": 4, "mulaw": 1, "alaw": 1}[encoding]


def wav_header(sample_rate: int, encoding: str, data_len: int) -> bytes:
    """A 44-byte RIFF/WAVE header (format 1 PCM, 3 float, 6 A-law, 7 μ-law)."""
    fmt = {"pcm16": 1, "f32": 3, "alaw": 6, "mulaw": 7}[encoding]
    width = bytes_per_sample(encoding)
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_len,
        b"WAVE",
        b"fmt ",
        16,
        fmt,
        1,
        sample_rate,
        sample_rate * width,
        width,
        width * 8,
        b"data",
        data_len,
    )


def chunk_bytes(audio: bytes, sample_rate: int, encoding: str) -> Iterator[bytes]:
    """Split encoded audio into ~100 ms chunks on sample boundaries."""
    size = max(1, sample_rate * CHUNK_MS // 1000) * bytes_per_sample(encoding)
    for start in range(0, len(audio), size):
        yield audio[start : start + size]


def char_timings(text: str) -> tuple[list[str], list[float], list[float]]:
    """Characters of ``text`` with start and end times (seconds) spread over its duration."""
    chars = list(text)
    if not chars:
        return [], [], []
    step = speech_duration_s(text) / len(chars)
    starts = [round(i * step, 3) for i in range(len(chars))]
    ends = [round((i + 1) * step, 3) for i in range(len(chars))]
    return chars, starts, ends


def word_timings(
    text: str, start: float = 0.0, end: float | None = None
) -> list[tuple[str, float, float]]:
    """Words of ``text`` with times spread evenly over ``start``..``end`` (seconds)."""
    words = text.split()
    if not words:
        return []
    stop = start + speech_duration_s(text) if end is None else end
    step = (stop - start) / len(words)
    return [
        (w, round(start + i * step, 3), round(start + (i + 1) * step, 3))
        for i, w in enumerate(words)
    ]


def text_chunks(
    text: str, sample_rate: int, chars_per_chunk: int = 5
) -> list[tuple[str, float, Samples]]:
    """The tone for ``text`` cut at character boundaries: (chars, start seconds, samples).

    Every character gets an equal share of the audio, so per-chunk alignments (start times
    relative to the chunk, as ElevenLabs' websocket sends them) add up exactly to the audio.
    """
    samples = tone(text, sample_rate)
    if not text:
        return []
    per_char = len(samples) / len(text)
    pieces: list[tuple[str, float, Samples]] = []
    for first in range(0, len(text), chars_per_chunk):
        last = min(len(text), first + chars_per_chunk)
        lo, hi = round(first * per_char), round(last * per_char)
        pieces.append((text[first:last], lo / sample_rate, samples[lo:hi]))
    return pieces
