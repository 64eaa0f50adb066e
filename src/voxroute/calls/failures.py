"""Applies failure plans to a running call: rekey a stage, fall back, or end the call.

What a failure *means* is decided elsewhere, once: `providers.errors.classify_error_frame`
names its category and `routing.failures.plan_failure` turns that into a plan.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pipecat.frames.frames import ErrorFrame, LLMRunFrame
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.utils.errors import ErrorCategory

from voxroute.calls.host import CallHost, CallInfo
from voxroute.calls.services import StageServices, rekey
from voxroute.calls.state import EndReason
from voxroute.providers.errors import classify_error_frame
from voxroute.routing.failures import (
    AUTH_CATEGORIES,
    LIMIT_CATEGORIES,
    CredentialEffect,
    FailureAction,
    FailurePlan,
    plan_failure,
)
from voxroute.routing.types import FailurePolicy, ResolvedStage, Stage

__all__ = ["StageFailureHandler"]

log = logging.getLogger(__name__)
MAX_SWITCHES_PER_STAGE = 3
EndCall = Callable[[str, bool], Awaitable[None]]  # (reason, tts_usable)
QueueFrame = Callable[[Any], Awaitable[None]]


class StageFailureHandler:
    """A call's handling of stage failures, one error at a time, with bounded key switches.

    One per call. A stage switches key at most `MAX_SWITCHES_PER_STAGE` times, so a call
    never loops on a failing provider.
    """

    def __init__(
        self,
        *,
        runtime: CallHost,
        call: CallInfo,
        stages: dict[Stage, ResolvedStage],
        services: StageServices,
        policy: FailurePolicy,
        sample_rate: int,
        end_call: EndCall,
        queue_frame: QueueFrame,
    ) -> None:
        self._runtime = runtime
        self._call = call
        self.stages = stages
        self._services = services
        self._policy = policy
        self._sample_rate = sample_rate
        self._end_call = end_call
        self._queue_frame = queue_frame
        self._lock = asyncio.Lock()
        self._switches: dict[Stage, int] = {}
        self._handled_failed: set[tuple[Stage, int]] = set()
        self._previous: dict[Stage, list[dict[str, Any]]] = {}
        self.ended = False

    def stage_of_processor(self, processor: FrameProcessor | None) -> Stage | None:
        for name, service in self._services.by_stage().items():
            if processor is service:
                return name
        return None

    def stage_of_name(self, processor_name: str) -> ResolvedStage | None:
        for name, service in self._services.by_stage().items():
            if service.name == processor_name:
                return self.stages.get(name)
        return None

    async def handle(self, frame: ErrorFrame) -> None:
        stage_name = self.stage_of_processor(frame.processor)
        if stage_name is None or self.ended:
            return
        async with self._lock:
            if self.ended:
                return
            stage = self.stages[stage_name]
            service = self._services.by_stage()[stage_name]
            category = classify_error_frame(frame)
            plan = plan_failure(
                stage, category, policy=self._policy, service_usable=service.is_usable
            )
            # One failing key can report several errors; act once per key.
            marker = (stage_name, id(stage))
            if not plan.ignored and marker in self._handled_failed:
                return
            self._handled_failed.add(marker)
            log.info(
                "call %s: %s stage failed (%s) -> %s",
                self._call.call_id,
                stage_name,
                category.value,
                [a.value for a in plan.actions],
            )
            if plan.credential is not CredentialEffect.NONE:
                await self._report(stage, plan)
            await self._apply(stage, plan)

    async def _report(self, stage: ResolvedStage, plan: FailurePlan) -> None:
        category = plan.category.value
        try:
            await self._runtime.report_credential_failure(
                self._call, stage, plan, f"{stage.provider} refused the key ({category})"
            )
        except Exception:  # a reporting failure must not stop the failover itself
            log.exception("call %s: report_credential_failure failed", self._call.call_id)

    async def _apply(self, stage: ResolvedStage, plan: FailurePlan) -> None:
        for action in plan.actions:
            if action is FailureAction.IGNORE:
                return
            if action is FailureAction.END_CALL:
                self.ended = True
                tts_ok = stage.stage != "tts" and self._services.tts.is_usable
                await self._end_call(_end_reason(plan.category).for_stage(stage.stage), tts_ok)
                return
            if self._switches.get(stage.stage, 0) >= MAX_SWITCHES_PER_STAGE:
                continue
            replacement = await self._candidate(stage, action, plan)
            if replacement is not None and await self._switch(stage, replacement):
                return

    async def _candidate(
        self, stage: ResolvedStage, action: FailureAction, plan: FailurePlan
    ) -> ResolvedStage | None:
        reason = plan.fallback_reason
        if action is FailureAction.NEXT_POOL_KEY:
            return await self._runtime.next_pool_key(self._call, stage, reason)
        found = await self._runtime.managed_key(self._call, stage.stage, reason)
        if found is None:
            return None
        return dataclasses.replace(found, source="managed_fallback", fallback_reason=reason)

    async def _switch(self, old: ResolvedStage, new: ResolvedStage) -> bool:
        if new.provider != old.provider:
            log.warning("call %s: cannot switch %s across providers", self._call.call_id, old.stage)
            return False
        service = self._services.by_stage()[old.stage]
        try:
            await rekey(
                service,
                new,
                sample_rate=self._sample_rate,
                resources=self._runtime.provider_resources,
            )
        except Exception:  # a failed switch falls through to the next action of the plan
            log.exception("call %s: switching %s key failed", self._call.call_id, old.stage)
            return False
        self._switches[old.stage] = self._switches.get(old.stage, 0) + 1
        self.stages[old.stage] = new
        self._previous.setdefault(old.stage, []).append(old.trace())
        if old.stage == "llm":
            await self._queue_frame(LLMRunFrame())  # re-run the turn that failed
        return True

    @property
    def switched(self) -> bool:
        return bool(self._previous)

    def resolution(self) -> list[dict[str, Any]]:
        """The key serving each stage at the end, with the keys it replaced (`previous`)."""
        out: list[dict[str, Any]] = []
        for name in ("stt", "llm", "tts"):
            if name in self.stages:
                trace = self.stages[name].trace()
                if name in self._previous:
                    trace["previous"] = self._previous[name]
                out.append(trace)
        return out


def _end_reason(category: ErrorCategory) -> EndReason:
    """The call's end reason for a stage that failed with `category` (`:<stage>` appended)."""
    if category in AUTH_CATEGORIES:
        return EndReason.PROVIDER_AUTH_FAILED
    if category in LIMIT_CATEGORIES:
        return EndReason.PROVIDER_RATE_LIMITED
    return EndReason.PROVIDER_UNAVAILABLE
