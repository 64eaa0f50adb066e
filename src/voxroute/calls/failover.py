"""Failure policy at run time: classify a provider failure, then decide what the call does.

Pure and synchronous, so it is tested without a pipeline. Categories follow pipecat's
`ErrorCategory`; the decision follows DESIGN §2:

- authentication/authorization (401/403) is permanent: report the credential, try another
  key of the same pool, else end the call (`provider_auth_failed:<stage>`). Never managed.
- rate limit (429) / quota (402): another key of the pool (cool-down on the failed one);
  else, under `fallback_to_managed` and for a non-managed key, the managed key
  (`managed_fallback`); else end the call if the service cannot go on, or ride it out.
- unavailable (5xx, connectivity): end the call only once the service gave up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipecat.frames.frames import ErrorFrame
from pipecat.utils.errors import ErrorCategory, classify_http_exception

from voxroute.calls.state import EndReason
from voxroute.errors import (
    ProviderAuthError,
    ProviderQuotaExceeded,
    ProviderRateLimited,
    ProviderUnavailable,
)
from voxroute.routing.types import FailurePolicy, ResolvedStage

__all__ = ["Action", "Decision", "FailureKind", "classify", "classify_error_frame", "decide"]


class FailureKind(StrEnum):
    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"
    UNAVAILABLE = "unavailable"
    OTHER = "other"


_BY_CATEGORY = {
    ErrorCategory.AUTHENTICATION: FailureKind.AUTH,
    ErrorCategory.AUTHORIZATION: FailureKind.AUTH,
    ErrorCategory.RATE_LIMIT: FailureKind.RATE_LIMIT,
    ErrorCategory.QUOTA: FailureKind.QUOTA,
    ErrorCategory.CONNECTIVITY: FailureKind.UNAVAILABLE,
    ErrorCategory.SERVER: FailureKind.UNAVAILABLE,
}
_BY_EXCEPTION: tuple[tuple[type[Exception], FailureKind], ...] = (
    (ProviderAuthError, FailureKind.AUTH),
    (ProviderRateLimited, FailureKind.RATE_LIMIT),
    (ProviderQuotaExceeded, FailureKind.QUOTA),
    (ProviderUnavailable, FailureKind.UNAVAILABLE),
)
# Words providers use where no status code survives (e.g. a websocket handshake message).
_HINTS = (
    ("401", FailureKind.AUTH),
    ("403", FailureKind.AUTH),
    ("unauthorized", FailureKind.AUTH),
    ("invalid_api_key", FailureKind.AUTH),
    ("429", FailureKind.RATE_LIMIT),
    ("rate limit", FailureKind.RATE_LIMIT),
    ("rate_limit", FailureKind.RATE_LIMIT),
    ("402", FailureKind.QUOTA),
    ("insufficient_quota", FailureKind.QUOTA),
    ("quota", FailureKind.QUOTA),
)


def classify(
    exception: BaseException | None, category: ErrorCategory | None = None, message: str = ""
) -> FailureKind:
    """Category first (pipecat's classification), then our own exception types, then the
    HTTP status an exception carries, then well-known words in the message."""
    if category is not None and category in _BY_CATEGORY:
        return _BY_CATEGORY[category]
    if exception is not None:
        for exc_type, kind in _BY_EXCEPTION:
            if isinstance(exception, exc_type):
                return kind
        by_status = _BY_CATEGORY.get(classify_http_exception(exception))
        if by_status is not None:
            return by_status
        message = f"{message} {exception}"
    lowered = message.lower()
    for hint, kind in _HINTS:
        if hint in lowered:
            return kind
    return FailureKind.OTHER


def classify_error_frame(frame: ErrorFrame) -> FailureKind:
    return classify(frame.exception, frame.category, frame.error or "")


class Action(StrEnum):
    IGNORE = "ignore"  # transient: the service keeps going
    NEXT_POOL_KEY = "next_pool_key"
    MANAGED_FALLBACK = "managed_fallback"
    END_CALL = "end_call"


@dataclass(frozen=True, slots=True)
class Decision:
    """An ordered plan: try `actions` in order; the first that works wins; `end_reason`
    applies when the plan reaches END_CALL."""

    kind: FailureKind
    actions: tuple[Action, ...]
    end_reason: str | None = None
    report_credential: bool = False

    @property
    def fallback_reason(self) -> str:
        return {
            FailureKind.RATE_LIMIT: "rate_limited",
            FailureKind.QUOTA: "quota_exceeded",
        }.get(self.kind, self.kind.value)


def decide(
    stage: ResolvedStage,
    kind: FailureKind,
    *,
    policy: FailurePolicy,
    service_usable: bool,
) -> Decision:
    """What to do about a failure of `stage` classified as `kind`."""
    name = stage.stage
    if kind is FailureKind.AUTH:
        return Decision(
            kind,
            (Action.NEXT_POOL_KEY, Action.END_CALL),
            EndReason.PROVIDER_AUTH_FAILED.for_stage(name),
            report_credential=stage.credential_id is not None,
        )
    if kind in (FailureKind.RATE_LIMIT, FailureKind.QUOTA):
        actions: list[Action] = [Action.NEXT_POOL_KEY]
        if policy == "fallback_to_managed" and stage.source not in ("managed", "managed_fallback"):
            actions.append(Action.MANAGED_FALLBACK)
        actions.append(Action.END_CALL if not service_usable else Action.IGNORE)
        return Decision(
            kind,
            tuple(actions),
            EndReason.PROVIDER_RATE_LIMITED.for_stage(name),
            report_credential=stage.credential_id is not None,
        )
    if not service_usable:
        return Decision(kind, (Action.END_CALL,), EndReason.PROVIDER_UNAVAILABLE.for_stage(name))
    return Decision(kind, (Action.IGNORE,))
