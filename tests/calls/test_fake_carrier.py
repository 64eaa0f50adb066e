"""The call core runs a whole call on a carrier it has never heard of.

`FakeCarrier` is a second implementation of `telephony.media.MediaSession`, written here
and nowhere in `src/`: no websocket, no Twilio. The call core (`calls.session.run_call`)
sets the call up from the database, greets the caller, hears an utterance through the
session's audio sink, transcribes it (Deepgram emulator), answers it (OpenAI emulator),
speaks (Cartesia emulator) through the session's output, takes a DTMF digit from its input,
and on a hang-up from the API plays out and hangs up through the carrier with the
account's secret.
"""

from __future__ import annotations

import asyncio
import audioop
from collections.abc import Callable
from typing import Any

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from sqlalchemy import select

from tests.calls.harness import ACCOUNT_SID, AUTH_TOKEN, HELLO, NUMBER, Env, ended_call
from voxroute.calls.session import run_call
from voxroute.calls.state import CallState, EndReason
from voxroute.db.base import new_id
from voxroute.db.models import Call, PhoneNumber
from voxroute.softphone.audio import frames_of, load_ulaw
from voxroute.telephony.inbound_guard import InboundGuard
from voxroute.telephony.media import (
    AudioSink,
    CallIdentity,
    CloseReason,
    MediaEvents,
    MediaSession,
    MediaStart,
    SecretOpener,
)

FRAME_S = 0.02


class FakeInput(FrameProcessor):
    """Passes the pipeline's frames on; pushes the caller's keypad presses."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)

    async def press(self, digit: str) -> None:
        await self.push_frame(InputDTMFFrame(KeypadEntry(digit)))


class FakeOutput(FrameProcessor):
    """Keeps the bot's audio, marks each utterance, clears on barge-in, hangs up at the end."""

    def __init__(self, carrier: FakeCarrier) -> None:
        super().__init__()
        self._carrier = carrier
        self.audio = bytearray()
        self.marks: list[str] = []
        self.clears = 0
        self._speaking = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, OutputAudioRawFrame):
            self.audio += frame.audio
            self._carrier.events.speaking()
            if not self._speaking:
                self._speaking = True
                await self.push_frame(BotStartedSpeakingFrame())
            return
        if isinstance(frame, TTSStoppedFrame):
            self.marks.append(f"utt-{len(self.marks) + 1}")
            if self._speaking:
                self._speaking = False
                await self.push_frame(BotStoppedSpeakingFrame())
        elif isinstance(frame, InterruptionFrame):
            self.clears += 1
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self._carrier.hang_up()
        await self.push_frame(frame, direction)


class FakePorts:
    def __init__(self, carrier: FakeCarrier) -> None:
        self._input = FakeInput()
        self._output = FakeOutput(carrier)

    def input(self) -> FakeInput:
        return self._input

    def output(self) -> FakeOutput:
        return self._output


class FakeCarrier:
    """A carrier in a dozen lines: what `MediaSession` asks, nothing more."""

    def __init__(self, call: Call) -> None:
        self.start = MediaStart(
            carrier="fake",
            stream_id="fake-stream-1",
            carrier_call_id=call.provider_call_id,
            account=ACCOUNT_SID,
            custom_parameters={"hello": "world"},
        )
        self.identity = CallIdentity(
            call_id=call.id,
            carrier_call_id=call.provider_call_id,
            account=ACCOUNT_SID,
            from_number=call.from_number,
            to_number=call.to_number,
        )
        self.guard = InboundGuard(None)
        self.sink: AudioSink | None = None
        self._events: MediaEvents | None = None
        self._secret: SecretOpener | None = None
        self.ports: FakePorts | None = None
        self.attached = asyncio.Event()
        self.hung_up_with: list[str] = []
        self.suppressed = False
        self.closed: list[CloseReason] = []

    @property
    def events(self) -> MediaEvents:
        assert self._events is not None
        return self._events

    def connect(
        self, *, audio_sink: AudioSink, events: MediaEvents, hang_up_secret: SecretOpener | None
    ) -> FakePorts:
        self.sink, self._events, self._secret = audio_sink, events, hang_up_secret
        self.ports = FakePorts(self)
        return self.ports

    def attach(self) -> None:
        self.attached.set()

    def detach(self) -> None:
        self.attached.clear()

    def suppress_hang_up(self) -> None:
        self.suppressed = True

    async def close(self, reason: CloseReason) -> None:
        self.closed.append(reason)

    def stats(self) -> dict[str, Any]:
        return {"fake_carrier": True, "inbound": self.guard.stats.as_dict()}

    def feed(self, pcm: bytes) -> None:
        """The carrier's inbound path: the guard first, then the call's sink."""
        assert self.sink is not None
        if self.guard.admit_audio(len(pcm) / 2 / self.start.sample_rate):
            self.sink(pcm)

    async def hang_up(self) -> None:
        if self.suppressed or self._secret is None or self.hung_up_with:
            return
        self.hung_up_with.append((await self._secret()).reveal())


def _as_media_session(carrier: FakeCarrier) -> MediaSession:
    return carrier  # mypy checks the fake against the protocol here


async def _claimed_call(env: Env) -> Call:
    """What a carrier's entry path does first: the call row its stream belongs to."""
    async with env.factory() as session:
        number = await session.scalar(select(PhoneNumber).where(PhoneNumber.number == NUMBER))
        assert number is not None
        call = Call(
            id=new_id("call"),
            org_id=number.org_id,
            assistant_id=number.assistant_id,
            phone_number_id=number.id,
            telephony_provider="fake",
            provider_call_id="FAKE-" + new_id("c"),
            from_number="+15557770000",
            to_number=NUMBER,
            status=CallState.RINGING.value,
        )
        session.add(call)
        await session.commit()
        return call


async def _until(condition: Callable[[], bool], *, within_s: float = 15.0) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - polls the fake's plain counters
            await asyncio.sleep(FRAME_S)


async def _speak(carrier: FakeCarrier, pcm_frames: list[bytes]) -> None:
    for frame in pcm_frames:
        carrier.feed(frame)
        await asyncio.sleep(FRAME_S)


async def test_a_whole_call_runs_on_a_carrier_the_call_core_has_never_heard_of(env: Env) -> None:
    call = await _claimed_call(env)
    carrier = FakeCarrier(call)
    task = asyncio.create_task(run_call(env.runtime, call, _as_media_session(carrier)))
    try:
        await asyncio.wait_for(carrier.attached.wait(), 15)
        assert carrier.ports is not None
        output = carrier.ports.output()
        await _until(lambda: len(output.marks) >= 1)  # the greeting played, then its mark
        greeting_bytes = len(output.audio)
        assert greeting_bytes > 0

        speech = [audioop.ulaw2lin(f, 2) for f in frames_of(load_ulaw(HELLO))]
        silence = [b"\x00\x00" * int(8000 * FRAME_S)] * 50
        await _speak(carrier, speech + silence)
        await _until(lambda: len(output.marks) >= 2)  # the reply to the utterance
        assert len(output.audio) > greeting_bytes

        await carrier.ports.input().press("5")
        await asyncio.sleep(0.2)
        assert await env.runtime.registry.hang_up(call.id)
        await asyncio.wait_for(task, 20)
    finally:
        if not task.done():
            task.cancel()

    report = env.runtime.reports[0]
    assert report.end_reason == EndReason.HUNG_UP_BY_API.value
    assert report.call.provider_call_id == call.provider_call_id
    assert report.call.account_sid == ACCOUNT_SID
    assert {"stt_ms", "llm_input_tokens", "tts_characters"} <= set(report.usage)
    assert carrier.hung_up_with == [AUTH_TOKEN]  # through the carrier, with the account's secret
    assert carrier.closed == []  # the pipeline ran: nothing was refused
    assert not carrier.attached.is_set()  # detached when the pipeline stopped
    stored = await ended_call(env, call.id)
    assert stored.end_reason == EndReason.HUNG_UP_BY_API.value
    assert stored.latency["fake_carrier"] is True  # the carrier's own counters are recorded
    assert stored.latency["dtmf_count"] == 1
    assert stored.latency["inbound"]["audio_admitted_s"] > 1.0
    assert stored.latency.get("turns_ms")


async def test_the_caller_hanging_up_on_the_carrier_ends_the_call_without_a_hang_up(
    env: Env,
) -> None:
    call = await _claimed_call(env)
    carrier = FakeCarrier(call)
    task = asyncio.create_task(run_call(env.runtime, call, carrier))
    await asyncio.wait_for(carrier.attached.wait(), 15)
    carrier.events.caller_hung_up()
    await asyncio.wait_for(task, 20)
    assert env.runtime.reports[0].end_reason == EndReason.CALLER_HUNG_UP.value
    assert carrier.suppressed and carrier.hung_up_with == []


async def test_a_flood_seen_by_the_carrier_ends_the_call_as_media_flood(env: Env) -> None:
    call = await _claimed_call(env)
    carrier = FakeCarrier(call)
    task = asyncio.create_task(run_call(env.runtime, call, carrier))
    await asyncio.wait_for(carrier.attached.wait(), 15)
    carrier.events.flooded()
    await asyncio.wait_for(task, 20)
    assert env.runtime.reports[0].end_reason == EndReason.MEDIA_FLOOD.value
    assert (await ended_call(env, call.id)).end_reason == EndReason.MEDIA_FLOOD.value


async def test_a_call_the_worker_cannot_take_is_closed_through_the_carrier(env: Env) -> None:
    call = await _claimed_call(env)
    carrier = FakeCarrier(call)
    env.runtime.registry.max_calls = 0
    await run_call(env.runtime, call, carrier)
    assert carrier.closed == [CloseReason.TRY_LATER]
    assert carrier.ports is None  # never connected
    stored = await ended_call(env, call.id)
    assert stored.end_reason == EndReason.REJECTED_CAPACITY.value
