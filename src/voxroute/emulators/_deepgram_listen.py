"""Deepgram live transcription (``/v1/listen`` websocket) session.

Utterances are found by energy on the audio clock; each utterance is transcribed as the next
phrase of the emulator's script. Message shapes follow provider-protocols.md §1.1 (the v7 SDK
models and a recorded real ``Results`` message).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from ._audio import decode, word_timings
from ._core import BadInput, Exchange
from ._vad import Segment, UtteranceDetector, VadEvent

__all__ = ["ListenParams", "ListenSession"]

ENCODINGS = {"linear16": "pcm16", "mulaw": "mulaw", "alaw": "alaw"}
DEFAULT_ENDPOINTING_MS = 400  # utterance-04 has a 360 ms pause inside one sentence
IDLE_TIMEOUT_S = 10.0
MODEL_UUID = "c0d1a568-ce81-4fea-97e7-bd45cb1fdf3c"


def _flag(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = query.get(name)
    if value is None:
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadInput(f"{name} must be true or false")


def _int(query: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise BadInput(f"{name} must be an integer") from exc
    if not low <= number <= high:
        raise BadInput(f"{name} must be within {low}..{high}")
    return number


@dataclass(frozen=True)
class ListenParams:
    """Query parameters of a live request that change what the emulator sends."""

    encoding: str
    sample_rate: int
    containerized: bool
    channels: int
    interim_results: bool
    endpointing_ms: int
    speech_final: bool
    utterance_end_ms: int | None
    vad_events: bool
    model: str

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ListenParams:
        """Validate the query like Deepgram does (a 400 on the upgrade for bad values)."""
        raw_encoding = query.get("encoding")
        if raw_encoding is None:
            encoding, rate = "pcm16", 16000  # containerized audio: the WAV header is skipped
        else:
            if raw_encoding not in ENCODINGS:
                raise BadInput(f"encoding {raw_encoding!r} is not supported by the emulator")
            encoding = ENCODINGS[raw_encoding]
            sample_rate = _int(query, "sample_rate", 2000, 192000)
            if sample_rate is None:
                raise BadInput("sample_rate is required when encoding is set")
            rate = sample_rate
        endpointing = query.get("endpointing")
        speech_final = endpointing is None or endpointing.lower() != "false"
        endpointing_ms = DEFAULT_ENDPOINTING_MS
        if endpointing is not None and speech_final:
            endpointing_ms = max(10, _int(query, "endpointing", 0, 60000) or 0)
        return cls(
            encoding=encoding,
            sample_rate=rate,
            containerized=raw_encoding is None,
            channels=_int(query, "channels", 1, 16) or 1,
            interim_results=_flag(query, "interim_results"),
            endpointing_ms=endpointing_ms,
            speech_final=speech_final,
            utterance_end_ms=_int(query, "utterance_end_ms", 1000, 60000),
            vad_events=_flag(query, "vad_events"),
            model=query.get("model", "base-general"),
        )


def _word(word: str, start: float, end: float) -> dict[str, Any]:
    bare = "".join(c for c in word.lower() if c.isalnum() or c == "'")
    return {
        "word": bare or word.lower(),
        "start": start,
        "end": end,
        "confidence": 0.99,
        "punctuated_word": word,
    }


class ListenSession:
    """One ``/v1/listen`` websocket: audio in, Results/SpeechStarted/UtteranceEnd out."""

    def __init__(
        self, ws: web.WebSocketResponse, exchange: Exchange, params: ListenParams, script: list[str]
    ) -> None:
        self._ws = ws
        self._ex = exchange
        self._p = params
        self._script = script
        self._detector = UtteranceDetector(
            params.sample_rate, params.endpointing_ms, params.utterance_end_ms
        )
        self._request_id = str(uuid.uuid4())
        self._sha = hashlib.sha256()
        self._utterances = 0
        self._header_pending = params.containerized
        self._sniff = bytearray()

    async def run(self) -> None:
        """Serve the socket until the client closes it or sends CloseStream."""
        while True:
            try:
                msg = await self._ws.receive(timeout=IDLE_TIMEOUT_S)
            except TimeoutError:
                await self._ws.close(code=1011, message=b"NET-0001")
                return
            if msg.type == WSMsgType.BINARY:
                if not msg.data:
                    await self._close_stream()
                    return
                await self._audio(msg.data)
            elif msg.type == WSMsgType.TEXT:
                if await self._control(msg.data):
                    return
            else:
                return

    async def _send(self, message: dict[str, Any]) -> None:
        await self._ex.send_str(self._ws, json.dumps(message))

    async def _control(self, text: str) -> bool:
        """Handle a JSON control message; True when the session is over."""
        try:
            message = json.loads(text)
            kind = message.get("type") if isinstance(message, dict) else None
        except ValueError:
            kind = None
        if kind == "KeepAlive":
            return False
        if kind == "Finalize":
            await self._finalize()
            return False
        if kind == "CloseStream":
            await self._close_stream()
            return True
        if kind == "Configure":
            keyterms = message.get("keyterms") or []
            await self._send(
                {"type": "ConfigureSuccess", "request_id": self._request_id, "keyterms": keyterms}
            )
            return False
        await self._send(
            {
                "type": "Error",
                "variant": "error",
                "code": "INVALID_MESSAGE",
                "description": "Unrecognised text message; expected a JSON control message.",
            }
        )
        return False

    async def _audio(self, data: bytes) -> None:
        self._sha.update(data)
        if self._header_pending:
            data = self._strip_wav_header(data)
            if not data:
                return
        samples = decode(data, self._p.encoding)
        if self._p.channels > 1:
            samples = samples[: len(samples) - len(samples) % self._p.channels]
            samples = samples[:: self._p.channels]
        for event in self._detector.feed(samples):
            await self._on_event(event)

    def _strip_wav_header(self, data: bytes) -> bytes:
        """Skip a leading RIFF header when no encoding was given (containerized audio)."""
        self._sniff.extend(data)
        if len(self._sniff) < 12:
            return b""
        self._header_pending = False
        buffered = bytes(self._sniff)
        self._sniff.clear()
        if not buffered.startswith(b"RIFF"):
            return buffered
        marker = buffered.find(b"data")
        return buffered[marker + 8 :] if marker >= 0 else b""

    async def _on_event(self, event: VadEvent) -> None:
        seg = event.segment
        if event.kind == "started":
            if self._p.vad_events:
                await self._send(
                    {"type": "SpeechStarted", "channel": [0, 1], "timestamp": seg.start}
                )
        elif event.kind == "interim":
            if self._p.interim_results:
                await self._results(seg, final=False)
        elif event.kind == "ended":
            await self._results(seg, final=True, speech_final=self._p.speech_final)
            self._utterances += 1
        elif event.kind == "gap" and self._p.utterance_end_ms and self._p.interim_results:
            await self._send(
                {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": seg.last_voiced}
            )

    async def _finalize(self) -> None:
        seg = self._detector.active
        if seg is not None:
            await self._results(self._detector.close(), final=True, from_finalize=True)
            self._utterances += 1
            return
        now = round(self._detector.elapsed, 3)
        empty = Segment(start=now, last_voiced=now, now=now)
        await self._results(empty, final=True, from_finalize=True, empty=True)

    async def _close_stream(self) -> None:
        if self._detector.active is not None:
            await self._results(self._detector.close(), final=True)
            self._utterances += 1
        await self._send(
            {
                "type": "Metadata",
                "transaction_key": "deprecated",
                "request_id": self._request_id,
                "sha256": self._sha.hexdigest(),
                "created": datetime.now(UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "duration": round(self._detector.elapsed, 3),
                "channels": self._p.channels,
                "models": [MODEL_UUID],
                "model_info": {MODEL_UUID: self._model_info()},
            }
        )
        await self._ws.close(code=1000)

    def _model_info(self) -> dict[str, str]:
        return {"name": self._p.model, "version": "2024-01-18.26916", "arch": "nova-3"}

    async def _results(
        self,
        seg: Segment,
        *,
        final: bool,
        speech_final: bool = False,
        from_finalize: bool = False,
        empty: bool = False,
    ) -> None:
        phrase = "" if empty else self._script[self._utterances % len(self._script)]
        end = seg.last_voiced if final else seg.now
        timed = word_timings(phrase, seg.start, max(end, seg.start + 0.01)) if phrase else []
        if not final and timed:
            shown = max(1, min(len(timed) - 1, int((seg.now - seg.start) / 0.3)))
            timed = timed[:shown]
        words = [_word(w, s, e) for w, s, e in timed]
        transcript = " ".join(w["punctuated_word"] for w in words)
        await self._send(
            {
                "type": "Results",
                "channel_index": [0, 1],
                "duration": round(max(0.0, seg.now - seg.start), 3),
                "start": seg.start,
                "is_final": final,
                "speech_final": speech_final,
                "from_finalize": from_finalize,
                "channel": {
                    "alternatives": [
                        {
                            "transcript": transcript,
                            "confidence": 0.99 if words else 0.0,
                            "words": words,
                        }
                    ]
                },
                "metadata": {
                    "request_id": self._request_id,
                    "model_info": self._model_info(),
                    "model_uuid": MODEL_UUID,
                },
            }
        )
