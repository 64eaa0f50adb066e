"""ElevenLabs text-to-speech websockets: ``stream-input`` and ``multi-stream-input``.

Text is buffered per context and synthesized on a sentence end, ``flush``,
``try_trigger_generation``, ``close_context`` or end of stream. Replies carry ``contextId``
and ``context_id`` both, with camelCase ``isFinal`` (provider-protocols.md §2.1–2.2).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from ._audio import encode, text_chunks
from ._core import Exchange

__all__ = ["OutputFormat", "TtsSocket"]

MAX_CONTEXTS = 5
SENTENCE_END = (".", "?", "!", "。", "\n")
TRIGGER_CHARS = 120


@dataclass(frozen=True)
class OutputFormat:
    """``pcm_<rate>``, ``ulaw_8000`` or ``alaw_8000`` as (encoding, rate)."""

    encoding: str
    rate: int

    @classmethod
    def parse(cls, value: str) -> OutputFormat | None:
        """None for formats the emulator cannot produce (mp3, opus)."""
        kind, _, rate = value.partition("_")
        if kind == "pcm" and rate in ("8000", "16000", "22050", "24000", "32000", "44100", "48000"):
            return cls("pcm16", int(rate))
        if kind in ("ulaw", "alaw") and rate == "8000":
            return cls("mulaw" if kind == "ulaw" else "alaw", 8000)
        return None


@dataclass
class _Context:
    text: str = ""
    opened: bool = False


class TtsSocket:
    """One ElevenLabs TTS websocket; ``multi`` selects the multi-context protocol."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        exchange: Exchange,
        fmt: OutputFormat,
        *,
        multi: bool,
        inactivity_s: float,
    ) -> None:
        self._ws, self._ex, self._fmt, self._multi = ws, exchange, fmt, multi
        self._inactivity_s = inactivity_s
        self._contexts: dict[str | None, _Context] = {}

    async def run(self, first: dict[str, Any] | None = None) -> None:
        """Serve until the socket closes; ``first`` is an already-read first message."""
        if first is not None and await self._handle(first):
            return
        while True:
            try:
                msg = await self._ws.receive(timeout=self._inactivity_s)
            except TimeoutError:
                seconds = int(self._inactivity_s)
                reason = (
                    f"Have not received a new text input within the timeout of {seconds} seconds."
                )
                await self._ws.close(code=1008, message=reason.encode())
                return
            if msg.type != WSMsgType.TEXT:
                return
            try:
                message = json.loads(msg.data)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                await self._error("invalid_message", "Messages must be JSON objects.")
                return
            if await self._handle(message):
                return

    async def _error(self, error: str, text: str) -> None:
        await self._ws.send_str(json.dumps({"message": text, "error": error, "code": 1008}))
        await self._ws.close(code=1008, message=text[:120].encode())

    async def _handle(self, message: dict[str, Any]) -> bool:
        """Process one client message; True when the socket is finished."""
        if self._multi:
            return await self._handle_multi(message)
        text = message.get("text")
        if not isinstance(text, str):
            await self._error("invalid_message", "Field 'text' must be a string.")
            return True
        ctx = self._contexts.setdefault(None, _Context())
        if text == "":
            await self._generate(None, ctx)
            await self._ws.send_str(json.dumps({"isFinal": True}))
            await self._ws.close(code=1000)
            return True
        if not ctx.opened:
            ctx.opened = True
            text = text.strip()
        ctx.text += text
        await self._maybe_generate(None, ctx, message)
        return False

    async def _handle_multi(self, message: dict[str, Any]) -> bool:
        if message.get("close_socket") is True:
            for ctx_id, ctx in list(self._contexts.items()):
                await self._finish(ctx_id, ctx)
            await self._ws.close(code=1000)
            return True
        ctx_id = message.get("context_id", message.get("contextId"))
        text = message.get("text")
        if ctx_id is None:
            if text == "":  # context-less keep-alive
                return False
            ctx_id = "default"
        if not isinstance(ctx_id, str) or (text is not None and not isinstance(text, str)):
            await self._error("invalid_message", "context_id and text must be strings.")
            return True
        existing = self._contexts.get(ctx_id)
        if existing is None:
            if len(self._contexts) >= MAX_CONTEXTS:
                await self._error(
                    "max_active_conversations",
                    f"Maximum simultaneous contexts per WebSocket connection exceeded "
                    f"({MAX_CONTEXTS}).",
                )
                return True
            existing = self._contexts[ctx_id] = _Context()
        ctx = existing
        if message.get("close_context") is True:
            await self._finish(ctx_id, ctx)
            return False
        if text:
            ctx.text += text if ctx.opened else text.lstrip()
            ctx.opened = True
        await self._maybe_generate(ctx_id, ctx, message)
        return False

    async def _maybe_generate(self, ctx_id: str | None, ctx: _Context, msg: dict[str, Any]) -> None:
        stripped = ctx.text.rstrip()
        if (
            msg.get("flush") is True
            or msg.get("try_trigger_generation") is True
            or stripped.endswith(SENTENCE_END)
            or len(stripped) >= TRIGGER_CHARS
        ):
            await self._generate(ctx_id, ctx)

    async def _finish(self, ctx_id: str | None, ctx: _Context) -> None:
        await self._generate(ctx_id, ctx)
        self._contexts.pop(ctx_id, None)
        await self._ws.send_str(
            json.dumps({"isFinal": True, "contextId": ctx_id, "context_id": ctx_id})
        )

    async def _generate(self, ctx_id: str | None, ctx: _Context) -> None:
        text, ctx.text = ctx.text.lstrip(), ""
        if not text.strip():
            return
        for chars, _start, samples in text_chunks(text, self._fmt.rate):
            step_ms = len(samples) / self._fmt.rate * 1000 / len(chars)
            alignment = {
                "chars": list(chars),
                "charStartTimesMs": [round(i * step_ms) for i in range(len(chars))],
                "charDurationsMs": [round(step_ms)] * len(chars),
            }
            message: dict[str, Any] = {
                "audio": base64.b64encode(encode(samples, self._fmt.encoding)).decode(),
                "alignment": alignment,
                "normalizedAlignment": alignment,
            }
            if self._multi:
                message.update(contextId=ctx_id, context_id=ctx_id)
            else:
                message["isFinal"] = False
            await self._ex.send_str(self._ws, json.dumps(message))
