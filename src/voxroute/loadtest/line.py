"""One simulated call's media stream, lean enough to run hundreds in one process.

It speaks Twilio Media Streams exactly as `voxroute.softphone` does (the webhook and the
audio helpers are the softphone's own), but it is clocked by the shared `FrameClock`, loops
over its clips until a deadline, builds media messages as bytes from a template and clips
encoded once per run, and never decodes received audio (only its length matters). Its
websocket is aiohttp's, not the softphone's `websockets` client: that client's send lock,
async context managers, `os.urandom` call per mask and pure-Python frame parser cost 1.5–2×
the CPU per message, and the load core must stay well below the server's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import aiohttp
from aiohttp import ClientWebSocketResponse, WSMsgType

from voxroute.loadtest.clock import FRAME_S, FrameClock
from voxroute.softphone import CallPlan, CallResult
from voxroute.softphone.audio import SILENCE_FRAME, frames_of, load_ulaw
from voxroute.softphone.client import send_voice_webhook

__all__ = ["BURST_GAP_S", "Clip", "LineStats", "run_line"]

BURST_GAP_S = 0.5  # a longer silence between two frames ends an utterance (as the softphone)
UNDERRUN_S = 0.02  # the caller would hear this much silence mid-utterance
NORMAL_CLOSURE = 1000
ABNORMAL_CLOSURE = 1006  # the connection ended without a close frame
POLL_S = 0.05  # how often a line looks for the first frame of a reply
_MEDIA = (
    b'{"event":"media","sequenceNumber":"%d","streamSid":"%s","media":'
    b'{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"%s"}}'
)
_WS = ClientWebSocketResponse[Literal[False]]


@dataclass(frozen=True, slots=True)
class Clip:
    """One utterance as base64 payloads, 20 ms each, encoded once for every call."""

    payloads: tuple[bytes, ...]

    @classmethod
    def load(cls, path: Path) -> Clip:
        return cls(tuple(base64.b64encode(f) for f in frames_of(load_ulaw(path))))

    @property
    def duration_s(self) -> float:
        return len(self.payloads) * FRAME_S


_SILENCE = base64.b64encode(SILENCE_FRAME)


@dataclass(slots=True)
class LineStats:
    """The softphone's `CallResult` plus what only a load test cares about."""

    result: CallResult
    index: int
    started_at: float = 0.0  # on the run's clock, seconds
    underruns: int = 0
    utterances: int = 0
    dropped: bool = False  # the server cut off a call that had been set up
    ended_by_server: bool = False  # closed normally after a reply (the assistant hung up)
    refused: str = ""  # why the server would not take the call ("busy", close code …)
    live: bool = False
    live_span: tuple[float, float] | None = None  # monotonic: stream started → call over
    jitter_ms: list[float] = field(default_factory=list)  # gap minus the previous frame's length
    recent_gaps_ms: list[float] = field(default_factory=list)  # drained by the progress line

    @property
    def failed(self) -> bool:
        return bool(self.result.error) or self.dropped or not self.result.ok


async def run_line(
    plan: CallPlan, clips: Sequence[Clip], clock: FrameClock, stats: LineStats, deadline: float
) -> None:
    """Place one call and talk until `deadline` (monotonic); fills `stats`."""
    result = stats.result
    t0 = time.monotonic()
    try:
        answer = await send_voice_webhook(plan, result)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        result.error = f"webhook failed: {type(exc).__name__}"
        stats.refused = result.error
        return
    if answer is None:
        # 200 without <Connect><Stream> is the busy/reject TwiML of admission control.
        stats.refused = "busy" if result.webhook_status == 200 else f"HTTP {result.webhook_status}"
        return
    stream_url, parameters = answer
    result.webhook_ms = _ms_since(t0)
    line = _Line(plan, clips, stats, t0, deadline)
    # No total timeout: it would cover the whole life of the websocket, not the handshake.
    timeout = aiohttp.ClientTimeout(total=None, connect=plan.connect_timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with asyncio.timeout(plan.connect_timeout_s):
                # compress=0: no permessage-deflate on loopback; text stays bytes, as only
                # json.loads reads it.
                ws = await http.ws_connect(
                    stream_url, max_msg_size=2**20, compress=0, decode_text=False
                )
            result.stream_open_ms = _ms_since(t0)
            async with ws:
                await line.run(ws, clock, parameters)
    except (OSError, aiohttp.ClientError, TimeoutError) as exc:
        result.error = result.error or f"media stream failed: {type(exc).__name__}"
    result.duration_s = round(time.monotonic() - t0, 3)


def _ms_since(t0: float) -> float:
    return round((time.monotonic() - t0) * 1000, 1)


class _Line:
    def __init__(
        self,
        plan: CallPlan,
        clips: Sequence[Clip],
        stats: LineStats,
        t0: float,
        deadline: float,
    ) -> None:
        self.plan, self.clips, self.stats, self.t0 = plan, clips, stats, t0
        self.result = stats.result
        self.deadline = deadline
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.result.stream_sid = self.stream_sid
        self._sid = self.stream_sid.encode()
        self._ws: _WS | None = None
        self._outgoing: deque[bytes] = deque()
        self._drained = asyncio.Event()
        # A bare future, not an Event: every sleep waits on it directly instead of wrapping
        # a new `Event.wait()` task, as `asyncio.wait_for` would, every 50 ms.
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closing = False  # we started the close handshake
        self._hung_up = False
        self._seq = 0
        self._chunk = 0
        self._play_end = 0.0
        self._last_audio_at: float | None = None
        self._last_frame_s = 0.0
        self._awaiting_reply_since: float | None = None
        self._pending_marks: deque[tuple[float, str]] = deque()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def run(self, ws: _WS, clock: FrameClock, parameters: dict[str, str]) -> None:
        plan = self.plan
        self._ws = ws
        await ws.send_str(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        start = {
            "streamSid": self.stream_sid,
            "accountSid": plan.account_sid,
            "callSid": plan.call_sid,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await ws.send_str(
            json.dumps(
                {
                    "event": "start",
                    "sequenceNumber": str(self._next_seq()),
                    "streamSid": self.stream_sid,
                    "start": start,
                }
            )
        )
        receiver = asyncio.create_task(self._receive_loop(ws), name="loadtest-receiver")
        handle = clock.add(self._tick)
        self.stats.live = True
        live_since = time.monotonic()
        try:
            await self._script(ws)
        finally:
            self.stats.live = False
            self.stats.live_span = (live_since, time.monotonic())
            clock.remove(handle)
            if not self._closed.done():
                self._closing = True
                await ws.close()
            await asyncio.wait_for(asyncio.gather(receiver, return_exceptions=True), 5.0)
            if self.result.close_code is None:
                # Our own close: the code of the server's answering close frame (as the
                # softphone reports it), or 1006 when none came.
                self.result.close_code = ws.close_code or ABNORMAL_CLOSURE

    # -- script --------------------------------------------------------------------------
    async def _script(self, ws: _WS) -> None:
        plan = self.plan
        await self._sleep(plan.initial_wait_s)
        await self._wait_reply(since=self.t0)  # the greeting
        index = 0
        while not self._closed.done():
            clip = self.clips[index % len(self.clips)]
            if time.monotonic() + clip.duration_s + plan.quiet_s > self.deadline:
                # No time for another utterance and its reply: silence until the end, so
                # that every call of a run is up until the same moment.
                await self._sleep(self.deadline - time.monotonic())
                break
            index += 1
            end = await self._play(clip)
            self.stats.utterances += 1
            await self._wait_reply(since=end)
            await self._sleep(min(plan.pause_s, max(0.0, self.deadline - time.monotonic())))
        if self._closed.done():
            if self.result.close_code == NORMAL_CLOSURE and self.result.reply_latency_ms:
                self.stats.ended_by_server = True  # e.g. the assistant said goodbye
            elif self.result.setup_ms is not None and time.monotonic() < self.deadline:
                self.stats.dropped = True
                self.result.error = self.result.error or (
                    f"server ended the call early (close code {self.result.close_code})"
                )
            elif self.result.setup_ms is None:
                self.stats.refused = f"closed before any audio ({self.result.close_code})"
                self.result.error = self.result.error or self.stats.refused
            return
        if self.result.media_frames_received == 0:
            self.result.error = "no audio from the server"
        stop = {"accountSid": plan.account_sid, "callSid": plan.call_sid}
        self._hung_up = True
        self.result.hung_up_by = "caller"
        message = {
            "event": "stop",
            "sequenceNumber": str(self._next_seq()),
            "streamSid": self.stream_sid,
            "stop": stop,
        }
        with contextlib.suppress(ConnectionError):
            await ws.send_str(json.dumps(message))

    def _set_closed(self) -> None:
        if not self._closed.done():
            self._closed.set_result(None)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake as soon as the call closes."""
        if seconds > 0:
            await asyncio.wait((self._closed,), timeout=seconds)

    async def _play(self, clip: Clip) -> float:
        self._drained.clear()
        self._outgoing.extend(clip.payloads)
        drained = asyncio.ensure_future(self._drained.wait())
        try:
            await asyncio.wait((drained, self._closed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            drained.cancel()
        end = time.monotonic()
        self._awaiting_reply_since = end
        return end

    async def _wait_reply(self, since: float) -> None:
        """Until audio arrived after `since` and then stopped for `quiet_s` (or timeout)."""
        quiet_s = self.plan.quiet_s
        deadline = time.monotonic() + self.plan.reply_timeout_s
        while not self._closed.done():
            now = time.monotonic()
            if now >= deadline:
                return
            last = self._last_audio_at
            if last is None or last <= since:
                await self._sleep(POLL_S)
            elif now - last >= quiet_s:
                return
            else:  # the reply cannot be over before `quiet_s` after its latest frame
                await self._sleep(min(quiet_s - (now - last), deadline - now))

    # -- wire ----------------------------------------------------------------------------
    async def _tick(self, now: float) -> None:
        """One 20 ms frame (speech or silence), then any marks whose audio has played."""
        ws = self._ws
        if ws is None or self._closed.done() or self._hung_up:
            return
        if self._outgoing:
            payload = self._outgoing.popleft()
            if not self._outgoing:
                self._drained.set()
        else:
            payload = _SILENCE
        self._chunk += 1
        message = _MEDIA % (self._next_seq(), self._sid, self._chunk, self._chunk * 20, payload)
        try:
            await ws.send_frame(message, WSMsgType.TEXT)
            self.result.media_frames_sent += 1
            while self._pending_marks and self._pending_marks[0][0] <= now:
                _, name = self._pending_marks.popleft()
                mark = {
                    "event": "mark",
                    "sequenceNumber": str(self._next_seq()),
                    "streamSid": self.stream_sid,
                    "mark": {"name": name},
                }
                await ws.send_str(json.dumps(mark))
                self.result.marks_echoed.append(name)
        except ConnectionError:  # the socket is closing; the receiver records how
            self._set_closed()

    async def _receive_loop(self, ws: _WS) -> None:
        """Feed every server message to `_on_message` until the socket closes.

        Then record who hung up and the close code, with the softphone's meaning (1006: no
        close frame).
        """
        result = self.result
        try:
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    self._on_message(msg.data)
                    continue
                if msg.type is WSMsgType.CLOSE:
                    result.close_code = int(msg.data)
                elif not self._closing:  # aiohttp reports a bare EOF as 1000; it is not
                    result.close_code = ABNORMAL_CLOSURE
                break
        finally:
            if not result.hung_up_by:
                result.hung_up_by = "server"
            self._set_closed()

    def _on_message(self, raw: bytes) -> None:
        now = time.monotonic()
        result = self.result
        if result.setup_ms is None:
            result.setup_ms = round((now - self.t0) * 1000, 1)
        try:
            msg = json.loads(raw)
        except ValueError:
            result.other_events.append("invalid-json")
            return
        event = msg.get("event") if isinstance(msg, dict) else None
        if event == "media":
            payload = msg.get("media", {}).get("payload", "")
            size = len(payload) * 3 // 4 - payload.count("=", -2)  # μ-law bytes, not decoded
            result.media_frames_received += 1
            result.audio_received_s += size / 8000
            if self._last_audio_at is not None and now - self._last_audio_at < BURST_GAP_S:
                gap = (now - self._last_audio_at) * 1000
                result.outbound_gaps_ms.append(gap)
                self.stats.recent_gaps_ms.append(gap)
                self.stats.jitter_ms.append(gap - self._last_frame_s * 1000)
                if now - self._play_end > UNDERRUN_S:
                    self.stats.underruns += 1
            self._last_audio_at = now
            self._last_frame_s = size / 8000
            self._play_end = max(now, self._play_end) + size / 8000
            if self._awaiting_reply_since is not None:
                result.reply_latency_ms.append(round((now - self._awaiting_reply_since) * 1000, 1))
                self._awaiting_reply_since = None
        elif event == "mark":
            name = str(msg.get("mark", {}).get("name", ""))
            result.marks_received.append(name)
            self._pending_marks.append((max(now, self._play_end), name))
        elif event == "clear":
            result.clears += 1
            self._play_end = now
            self._pending_marks = deque((now, name) for _, name in self._pending_marks)
        else:
            result.other_events.append(str(event))
