"""A Twilio stand-in: signed voice webhook → TwiML → Media Streams websocket in real time.

The caller side streams continuous 20 ms μ-law frames (silence between utterances, as a
phone line does), echoes `mark`s once the audio before them would have played, honours
`clear`, records what it hears and measures setup time, reply latency and frame gaps.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import xml.etree.ElementTree as ET  # noqa: S405 - parses TwiML from the server under test
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voxroute.softphone.audio import SILENCE_FRAME, frames_of, load_ulaw, write_ulaw_wav
from voxroute.softphone.result import CallResult
from voxroute.telephony.twilio.signature import compute_signature

__all__ = [
    "CallPlan",
    "place_call",
    "receive_until_closed",
    "run_call_plan",
    "send_voice_webhook",
]

FRAME_S = 0.02
BURST_GAP_S = 0.5


@dataclass(slots=True)
class CallPlan:
    """One softphone call: whom to call, as which Twilio account, and the script to play."""

    base_url: str  # where voxroute listens, e.g. http://127.0.0.1:8000
    number: str  # the called number (To)
    from_number: str
    account_sid: str
    auth_token: str
    utterances: Sequence[Path] = ()
    record_path: Path | None = None
    signed_base_url: str | None = None  # the public URL voxroute validates against
    call_sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    initial_wait_s: float = 0.5  # silence before listening for the first message
    pause_s: float = 0.5  # silence after each reply
    quiet_s: float = 0.8  # a reply is over after this long without audio
    reply_timeout_s: float = 8.0
    barge_in: bool = False  # start the next utterance as soon as the bot starts replying
    hang_up: bool = True  # send `stop` at the end if voxroute has not ended the call
    end_wait_s: float = 0.0  # keep the line open this long after the last reply
    connect_timeout_s: float = 10.0


async def place_call(
    url: str,
    number: str,
    from_number: str,
    account_sid: str,
    auth_token: str,
    wav_path: Path | Sequence[Path],
    record_path: Path | None = None,
    **options: object,
) -> CallResult:
    """Place one call; `options` are `CallPlan` fields (pause_s, barge_in, …)."""
    wavs = [wav_path] if isinstance(wav_path, Path) else list(wav_path)
    plan = CallPlan(url, number, from_number, account_sid, auth_token, wavs, record_path)
    for name, value in options.items():
        if not hasattr(plan, name):
            raise TypeError(f"unknown call option {name!r}")
        setattr(plan, name, value)
    return await run_call_plan(plan)


async def receive_until_closed(
    ws: ClientConnection,
    on_message: Callable[[str | bytes], None],
    result: CallResult,
    closed: asyncio.Event,
) -> None:
    """Feed every server message to `on_message` until the socket closes.

    Then record who hung up and the close code (shared by the softphone and the load
    generator).
    """
    try:
        async for raw in ws:
            on_message(raw)
    except ConnectionClosed:
        pass
    finally:
        if not result.hung_up_by:
            result.hung_up_by = "server"
        result.close_code = ws.close_code
        closed.set()


async def send_voice_webhook(
    plan: CallPlan, result: CallResult
) -> tuple[str, dict[str, str]] | None:
    """POST the signed voice webhook as Twilio does; the stream URL and its parameters.

    None (with the reason on `result`) when voxroute did not connect the call.
    """
    path = "/telephony/twilio/voice"
    signed = (plan.signed_base_url or plan.base_url).rstrip("/") + path
    params = {
        "AccountSid": plan.account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": plan.call_sid,
        "CallStatus": "ringing",
        "Called": plan.number,
        "Caller": plan.from_number,
        "Direction": "inbound",
        "From": plan.from_number,
        "To": plan.number,
    }
    headers = {"X-Twilio-Signature": compute_signature(plan.auth_token, signed, params)}
    timeout = aiohttp.ClientTimeout(total=plan.connect_timeout_s)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(plan.base_url.rstrip("/") + path, data=params, headers=headers) as response,
    ):
        result.webhook_status = response.status
        body = await response.text()
    if response.status != 200:
        result.error = f"webhook answered HTTP {response.status}"
        return None
    try:
        stream = ET.fromstring(body).find("./Connect/Stream")  # noqa: S314 - trusted server
    except ET.ParseError:
        stream = None
    if stream is None or not stream.get("url"):
        result.error = "TwiML has no <Connect><Stream>"
        return None
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return str(stream.get("url")), parameters


async def run_call_plan(plan: CallPlan) -> CallResult:
    """Place the call `plan` describes and play its script; failures land on the result."""
    result = CallResult()
    result.call_sid = plan.call_sid
    t0 = time.monotonic()
    answer = await send_voice_webhook(plan, result)
    if answer is None:
        return result
    stream_url, parameters = answer
    line = _Line(plan, result, t0)
    try:
        async with connect(stream_url, max_size=2**20, open_timeout=plan.connect_timeout_s) as ws:
            await line.run(ws, parameters)
    except (OSError, ConnectionClosed, TimeoutError) as exc:
        result.error = result.error or f"media stream failed: {type(exc).__name__}"
    result.duration_s = round(time.monotonic() - t0, 3)
    if plan.record_path is not None:
        write_ulaw_wav(plan.record_path, bytes(line.recording))
    return result


class _Line:
    """One media stream: a 20 ms sender clock, a receiver, and the call script."""

    def __init__(self, plan: CallPlan, result: CallResult, t0: float) -> None:
        self.plan, self.result, self.t0 = plan, result, t0
        self.stream_sid = "MZ" + secrets.token_hex(16)
        result.stream_sid = self.stream_sid
        self.recording = bytearray()
        self._outgoing: list[bytes] = []
        self._drained = asyncio.Event()
        self._closed = asyncio.Event()
        self._seq = 0
        self._play_end = 0.0
        self._pending_marks: list[tuple[float, str]] = []
        self._last_audio_at: float | None = None
        self._awaiting_reply_since: float | None = None
        self._first_reply = asyncio.Event()

    def _msg(self, event: str, **body: object) -> str:
        self._seq += 1
        return json.dumps({"event": event, "sequenceNumber": str(self._seq), **body})

    async def run(self, ws: ClientConnection, parameters: dict[str, str]) -> None:
        plan = self.plan
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {
            "streamSid": self.stream_sid,
            "accountSid": plan.account_sid,
            "callSid": plan.call_sid,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await ws.send(self._msg("start", streamSid=self.stream_sid, start=start))
        sender = asyncio.create_task(self._send_loop(ws), name="softphone-sender")
        receiver = asyncio.create_task(self._receive_loop(ws), name="softphone-receiver")
        try:
            await self._script(ws)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            if not self._closed.is_set():
                await ws.close()
            await asyncio.wait_for(asyncio.gather(receiver, return_exceptions=True), 5.0)

    # -- script --------------------------------------------------------------------------
    async def _script(self, ws: ClientConnection) -> None:
        plan = self.plan
        await self._sleep(plan.initial_wait_s)
        await self._wait_reply(since=self.t0)
        for index, wav in enumerate(plan.utterances):
            if self._closed.is_set():
                return
            utterance_end = await self._play(load_ulaw(wav))
            last = index == len(plan.utterances) - 1
            if plan.barge_in and not last:
                await self._wait_first_audio(utterance_end)
                await self._sleep(0.3)
            else:
                await self._wait_reply(since=utterance_end)
                await self._sleep(plan.pause_s)
        await self._sleep(plan.end_wait_s)
        if plan.hang_up and not self._closed.is_set():
            stop = {"accountSid": plan.account_sid, "callSid": plan.call_sid}
            await ws.send(self._msg("stop", streamSid=self.stream_sid, stop=stop))
            self.result.hung_up_by = "caller"

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), seconds)

    async def _play(self, audio: bytes) -> float:
        self._drained.clear()
        self._outgoing.extend(frames_of(audio))
        await asyncio.wait(
            [
                asyncio.ensure_future(self._drained.wait()),
                asyncio.ensure_future(self._closed.wait()),
            ],
            return_when=asyncio.FIRST_COMPLETED,
        )
        end = time.monotonic()
        self._awaiting_reply_since = end
        self._first_reply.clear()
        return end

    async def _wait_first_audio(self, since: float) -> None:
        self._awaiting_reply_since = since
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_reply.wait(), self.plan.reply_timeout_s)

    async def _wait_reply(self, since: float) -> None:
        """Until audio arrived after `since` and then stopped for `quiet_s` (or timeout)."""
        deadline = time.monotonic() + self.plan.reply_timeout_s
        while not self._closed.is_set() and time.monotonic() < deadline:
            last = self._last_audio_at
            if last is not None and last > since and time.monotonic() - last >= self.plan.quiet_s:
                return
            await self._sleep(0.05)

    # -- wire ----------------------------------------------------------------------------
    async def _send_loop(self, ws: ClientConnection) -> None:
        next_at = time.monotonic()
        chunk = 0
        while True:
            frame = self._outgoing.pop(0) if self._outgoing else SILENCE_FRAME
            if not self._outgoing:
                self._drained.set()
            chunk += 1
            media = {
                "track": "inbound",
                "chunk": str(chunk),
                "timestamp": str(chunk * 20),
                "payload": base64.b64encode(frame).decode(),
            }
            await ws.send(self._msg("media", streamSid=self.stream_sid, media=media))
            self.result.media_frames_sent += 1
            now = time.monotonic()
            while self._pending_marks and self._pending_marks[0][0] <= now:
                _, name = self._pending_marks.pop(0)
                await self._echo_mark(ws, name)
            next_at += FRAME_S
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _echo_mark(self, ws: ClientConnection, name: str) -> None:
        await ws.send(self._msg("mark", streamSid=self.stream_sid, mark={"name": name}))
        self.result.marks_echoed.append(name)

    async def _receive_loop(self, ws: ClientConnection) -> None:
        await receive_until_closed(ws, self._on_message, self.result, self._closed)

    def _on_message(self, raw: str | bytes) -> None:
        now = time.monotonic()
        if self.result.setup_ms is None:
            self.result.setup_ms = round((now - self.t0) * 1000, 1)
        try:
            msg = json.loads(raw)
        except ValueError:
            self.result.other_events.append("invalid-json")
            return
        event = msg.get("event") if isinstance(msg, dict) else None
        if event == "media":
            audio = base64.b64decode(msg.get("media", {}).get("payload", ""))
            self.recording.extend(audio)
            self.result.media_frames_received += 1
            self.result.audio_received_s = round(len(self.recording) / 8000, 3)
            if self._last_audio_at is not None and now - self._last_audio_at < BURST_GAP_S:
                self.result.outbound_gaps_ms.append(round((now - self._last_audio_at) * 1000, 1))
            self._last_audio_at = now
            self._play_end = max(now, self._play_end) + len(audio) / 8000
            if self._awaiting_reply_since is not None:
                self.result.reply_latency_ms.append(
                    round((now - self._awaiting_reply_since) * 1000, 1)
                )
                self._awaiting_reply_since = None
                self._first_reply.set()
        elif event == "mark":
            name = str(msg.get("mark", {}).get("name", ""))
            self.result.marks_received.append(name)
            self._pending_marks.append((max(now, self._play_end), name))
        elif event == "clear":
            self.result.clears += 1
            self._play_end = now  # Twilio drops queued audio and returns pending marks
            self._pending_marks = [(now, name) for _, name in self._pending_marks]
        else:
            self.result.other_events.append(str(event))
