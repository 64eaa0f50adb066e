"""One live call: set up, run the pipeline, end it exactly once with a reason.

The call's media comes from a carrier-neutral `telephony.media.MediaSession`, built by the
carrier's entry path; nothing here knows which carrier it is.

The session owns every task it starts (max-duration timer, end deadline, failure handling)
and cancels them with a timeout when the call ends. Nothing here awaits the database while
audio flows: reads happen before the pipeline starts, the final write after it stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pipecat.frames.frames import EndFrame, ErrorFrame, Frame, TTSSpeakFrame
from pipecat.workers.runner import WorkerRunner
from sqlalchemy.exc import SQLAlchemyError

from voxroute.calls.failures import StageFailureHandler
from voxroute.calls.host import CallHost, CallInfo, CallReport
from voxroute.calls.meters import summarize
from voxroute.calls.pipeline import CallPipeline, build_pipeline
from voxroute.calls.records import CallSetup, load_call_setup, write_call_end
from voxroute.calls.registry import AdmissionRefused
from voxroute.calls.services import build_services
from voxroute.calls.slots import SlotsUnavailable
from voxroute.calls.state import CallState, EndReason, StateMachine
from voxroute.db.base import utcnow
from voxroute.db.models import Call
from voxroute.errors import CallTokenInvalid, InsufficientCredit, KeyNotFound, VoxrouteError
from voxroute.tasks import TaskGroup
from voxroute.telephony.media import CloseReason, MediaSession

__all__ = ["CallSession", "run_call"]

log = logging.getLogger(__name__)
GOODBYE = "Thank you for calling. Goodbye."
MAX_DURATION_MESSAGE = "We have reached the time limit for this call. Goodbye."
IDLE_MESSAGE = "I haven't heard anything for a while, so I'll end the call now. Goodbye."
FAILURE_MESSAGE = "Sorry, we are having a technical problem and have to end this call."
# Said when the call is ended from outside (billing, operator); never names the tenant's bill.
HANG_UP_MESSAGES = {
    EndReason.INSUFFICIENT_CREDIT.value: "I'm sorry, this call has to end now. Goodbye.",
    EndReason.SERVER_SHUTDOWN.value: "Sorry, we have to end this call now. Please call again.",
}
STOP_TIMEOUT_S = 5.0
# A goodbye is spoken at about this many characters a second, and may start this late.
SPOKEN_CHARS_PER_S = 12.0
GOODBYE_MARGIN_S = 10.0
MS_PER_SECOND = 1000
IDLE_CHECK_S = 1.0  # idle timeouts are tens of seconds: a second's precision is plenty


async def run_call(runtime: CallHost, call: Call, media: MediaSession) -> None:
    """Run the call `call` on `media` until it ends.

    The call core (`telephony.media.CallCore` once bound to `runtime`); `call` was claimed by
    the carrier's entry path.
    """
    await CallSession(runtime, call, media).run()


class CallSession:
    """One live call from set-up to its single end, and every task it starts."""

    def __init__(self, runtime: CallHost, call: Call, media: MediaSession):
        self._rt = runtime
        self._call_row = call
        self._media = media
        identity = media.identity
        self.info = CallInfo(
            call_id=identity.call_id,
            org_id=call.org_id,
            assistant_id=call.assistant_id,
            provider_call_id=identity.carrier_call_id,
            account_sid=identity.account,
            from_number=identity.from_number,
            to_number=identity.to_number,
        )
        self.state = StateMachine(CallState.RINGING)
        self.end_reason: str | None = None
        self._pending_end: str | None = None  # asked to end while still setting up
        self._slot_released = False
        self._tasks = TaskGroup(f"call-{call.id}")
        self._pipeline: CallPipeline | None = None
        self._failures: StageFailureHandler | None = None
        self._started_at = time.monotonic()
        # Set-up phases, ms since the stream's token was accepted (in `calls.latency`).
        self.setup_ms: dict[str, float] = {}

    # -- lifecycle -----------------------------------------------------------------------
    async def run(self) -> None:
        try:
            self._rt.registry.admit(self.info.call_id, self.hang_up)
        except AdmissionRefused:
            await self._refuse(EndReason.REJECTED_CAPACITY.value, close=CloseReason.TRY_LATER)
            return
        try:
            await self._hold_org_slot()
            await self._run_admitted()
        finally:
            await self._tasks.cancel_all(grace_s=STOP_TIMEOUT_S)
            self._rt.registry.release(self.info.call_id)
            await self._release_org_slot()

    async def _hold_org_slot(self) -> None:
        """The webhook took the org's slot; keep its lease alive while the call runs."""
        try:
            await self._rt.org_slots.hold(self.info.org_id, self.info.call_id)
        except SlotsUnavailable:  # the call goes on; its pending lease may expire early
            log.warning("call %s: could not renew its org slot", self.info.call_id)

    async def _release_org_slot(self) -> None:
        if self._slot_released:
            return
        self._slot_released = True
        try:
            await self._rt.org_slots.release(self.info.org_id, self.info.call_id)
        except SlotsUnavailable:  # the lease expires on its own
            log.warning("call %s: could not release its org slot", self.info.call_id)

    async def _run_admitted(self) -> None:
        setup: CallSetup | None = None  # once loaded, the call's credit is held
        try:
            async with self._rt.registry.setting_up:
                self._mark_setup("queued")
                setup = await load_call_setup(self._rt, self._call_row, self._media.start.account)
                self._mark_setup("loaded")
                self._build(setup)
                self._mark_setup("built")
        except InsufficientCredit:
            log.info("call %s: refused, the org cannot cover the credit hold", self.info.call_id)
            await self._refuse(EndReason.INSUFFICIENT_CREDIT.value)
            return
        except (KeyNotFound, CallTokenInvalid) as exc:
            reason = EndReason.KEY_NOT_FOUND if isinstance(exc, KeyNotFound) else EndReason.REFUSED
            await self._refuse(reason.value, release=setup is not None)
            return
        except (VoxrouteError, SQLAlchemyError, ValueError) as exc:
            log.warning("call %s: set-up failed: %s", self.info.call_id, type(exc).__name__)
            await self._refuse(EndReason.SETUP_FAILED.value, release=setup is not None)
            return
        if self._pending_end is not None:  # e.g. the hang-up API during set-up: no audio
            self.end_reason = self._pending_end
            await self._media.close(CloseReason.NORMAL)
            await self._finish(setup)
            return
        self.state.transition(CallState.CONNECTED)
        assert self._pipeline is not None
        runner = WorkerRunner(name=f"runner-{self.info.call_id}", handle_sigint=False)
        await runner.add_workers(self._pipeline.worker)
        self._tasks.spawn(self._max_duration(setup.assistant.max_duration_s), "max-duration")
        if setup.assistant.idle_timeout_s:
            self._tasks.spawn(self._idle_timeout(setup.assistant.idle_timeout_s), "idle-timeout")
        self._media.attach()  # caller audio flows from here on
        try:
            await runner.run()
        finally:
            self._media.detach()
            await self._finish(setup)

    def _build(self, setup: CallSetup) -> None:
        sample_rate = self._media.start.sample_rate
        services = build_services(
            setup.stages,
            sample_rate=sample_rate,
            resources=self._rt.provider_resources,
            system_instruction=setup.assistant.system_prompt,
        )
        self._failures = StageFailureHandler(
            runtime=self._rt,
            call=self.info,
            stages=dict(setup.stages),
            services=services,
            policy=setup.assistant.failure_policy,
            sample_rate=sample_rate,
            end_call=self._end_for_failure,
            queue_frame=self._queue,
        )
        self._pipeline = build_pipeline(
            media=self._media,
            hang_up_secret=setup.hang_up_secret,
            on_caller_hung_up=self._on_caller_hung_up,
            on_flood=self._on_media_flood,
            call=self.info,
            assistant=setup.assistant,
            services=services,
            stage_of=self._failures.stage_of_name,
            usage_sink=self._rt.record_usage,
            on_end_call=self._on_end_call_tool,
            vad=self._rt.vad,
        )
        worker = self._pipeline.worker
        first_message = setup.assistant.first_message

        @worker.event_handler("on_pipeline_started")  # type: ignore[untyped-decorator]
        async def _started(_worker: Any, _frame: Frame) -> None:
            self._mark_setup("started")
            if first_message:
                await worker.queue_frame(TTSSpeakFrame(first_message))

        @worker.event_handler("on_pipeline_error")  # type: ignore[untyped-decorator]
        async def _error(_worker: Any, frame: ErrorFrame) -> None:
            if self._failures is not None and not self.state.is_over:
                self._tasks.spawn(self._failures.handle(frame), "stage-failure")

    def _mark_setup(self, phase: str) -> None:
        self.setup_ms[phase] = round((time.monotonic() - self._started_at) * MS_PER_SECOND, 1)

    # -- ending --------------------------------------------------------------------------
    def end(self, reason: str, *, say: str | None = None, graceful: bool = True) -> bool:
        """End the call once; later calls are ignored.

        Graceful: speak `say`, flush, hang up through the carrier; otherwise cancel at once.
        Never blocks the caller. During set-up the end is remembered and applied before the
        pipeline starts.
        """
        if self.state.state is CallState.RINGING:
            self._pending_end = self._pending_end or reason
            return True
        if self.state.state is not CallState.CONNECTED or not self.state.try_transition(
            CallState.ENDING
        ):
            return False
        self.end_reason = reason
        self._tasks.spawn(self._do_end(say, graceful), "end")
        return True

    async def _do_end(self, say: str | None, graceful: bool) -> None:
        assert self._pipeline is not None
        worker = self._pipeline.worker
        if not graceful:
            self._media.suppress_hang_up()
            await worker.cancel(reason=self.end_reason)
            return
        frames: list[Frame] = [TTSSpeakFrame(say)] if say else []
        await worker.queue_frames([*frames, EndFrame()])
        # The goodbye is paced in real time; past this deadline, stop waiting.
        await asyncio.sleep(GOODBYE_MARGIN_S + len(say or "") / SPOKEN_CHARS_PER_S)
        log.warning("call %s: graceful end timed out; cancelling", self.info.call_id)
        await worker.cancel(reason=self.end_reason)

    def _on_caller_hung_up(self) -> None:
        self.end(EndReason.CALLER_HUNG_UP.value, graceful=False)

    def _on_media_flood(self) -> None:
        log.warning("call %s: ended, its media stream flooded the worker", self.info.call_id)
        self.end(EndReason.MEDIA_FLOOD.value, graceful=False)

    async def _on_end_call_tool(self, message: str | None) -> None:
        self.end(EndReason.ASSISTANT_ENDED.value, say=message or GOODBYE)

    async def _end_for_failure(self, reason: str, tts_usable: bool) -> None:
        self.end(reason, say=FAILURE_MESSAGE if tts_usable else None, graceful=True)

    async def hang_up(self, reason: str) -> None:
        """Registry hook (API hang-up, status callback, credit exhausted, shutdown)."""
        graceful = reason != EndReason.TELEPHONY_COMPLETED.value
        self.end(reason, say=HANG_UP_MESSAGES.get(reason) if graceful else None, graceful=graceful)

    async def _max_duration(self, seconds: int) -> None:
        if seconds <= 0:
            return
        await asyncio.sleep(seconds)
        self.end(EndReason.MAX_DURATION.value, say=MAX_DURATION_MESSAGE)

    async def _idle_timeout(self, seconds: int) -> None:
        """No caller or bot activity for `seconds`: say goodbye and end the call."""
        assert self._pipeline is not None
        activity = self._pipeline.activity
        # Polled: re-arming a timer on every activity frame would cost more than this.
        while (remaining := seconds - activity.idle_for()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(remaining, IDLE_CHECK_S))
        self.end(EndReason.IDLE_TIMEOUT.value, say=IDLE_MESSAGE)

    async def _queue(self, frame: Frame) -> None:
        if self._pipeline is not None:
            await self._pipeline.worker.queue_frame(frame)

    async def _refuse(
        self, reason: str, close: CloseReason = CloseReason.REFUSED, *, release: bool = False
    ) -> None:
        """End a call that never started its pipeline.

        `release`: its set-up had already held credit, which the end-of-call hook gives back
        (nothing was connected).
        """
        self.end_reason = reason
        self.state.try_transition(CallState.ENDED)
        await self._media.close(close)
        try:
            await write_call_end(
                self._rt,
                self.info.call_id,
                reason=reason,
                ended_at=utcnow(),
                resolution=None,
                latency={},
            )
        except SQLAlchemyError:
            log.exception("call %s: could not record refusal", self.info.call_id)
        if release:
            report = CallReport(
                call=self.info,
                end_reason=reason,
                connected_at=None,
                ended_at=utcnow(),
                duration_s=0,
            )
            await self._report_end(report)

    async def _finish(self, setup: CallSetup) -> None:
        if self.end_reason is None:  # the pipeline stopped on its own (e.g. socket error)
            self.end_reason = EndReason.CALLER_HUNG_UP.value
        self.state.try_transition(CallState.ENDED)
        await self._release_org_slot()  # before the end-of-call hook: the slot is free now
        ended_at = utcnow()
        pipeline = self._pipeline
        latency: dict[str, Any] = {}
        usage: dict[str, int] = {}
        if pipeline is not None:
            latency = summarize(pipeline.latency.turns_ms, pipeline.usage.ttfb_ms)
            usage = dict(pipeline.usage.totals)
            latency["dtmf_count"] = pipeline.latency.dtmf_count
            latency["setup_ms"] = dict(self.setup_ms)
            latency.update(self._media.stats())
        resolution = self._failures.resolution() if self._failures else None
        try:
            await write_call_end(
                self._rt,
                self.info.call_id,
                reason=self.end_reason,
                ended_at=ended_at,
                resolution=resolution,
                latency=latency,
            )
        except SQLAlchemyError:
            log.exception("call %s: could not record the end", self.info.call_id)
        report = CallReport(
            call=self.info,
            end_reason=self.end_reason,
            connected_at=setup.connected_at,
            ended_at=ended_at,
            duration_s=round((ended_at - setup.connected_at).total_seconds(), 3),
            resolution=resolution or [],
            latency=latency,
            usage=usage,
        )
        await self._report_end(report)

    async def _report_end(self, report: CallReport) -> None:
        try:
            await self._rt.on_call_ended(report)
        except Exception:  # the app's hook must not break the call teardown
            log.exception("call %s: on_call_ended failed", self.info.call_id)
