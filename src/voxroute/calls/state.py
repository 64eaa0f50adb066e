"""The lifecycle of a call: an enum with one guarded `transition()`.

    RINGING ──▶ CONNECTED ──▶ ENDING ──▶ ENDED
       │            └──────────────────────▲
       └───────────────────────────────────┘

A call may skip ahead (a caller who hangs up while ringing goes straight to ENDED) but never
goes back; ENDED is final. The same order guards the `calls.status` column, so replayed or
late Twilio status callbacks cannot move a call backwards.
"""

from __future__ import annotations

from enum import StrEnum

from voxroute.errors import Conflict

__all__ = ["CallState", "EndReason", "IllegalTransition", "StateMachine", "can_transition"]


class CallState(StrEnum):
    """A call's lifecycle state; `rank` orders the states as a call moves through them."""

    RINGING = "ringing"
    CONNECTED = "connected"
    ENDING = "ending"
    ENDED = "ended"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)


_ORDER = (CallState.RINGING, CallState.CONNECTED, CallState.ENDING, CallState.ENDED)


class EndReason(StrEnum):
    """Why a call ended; stored in `calls.end_reason` (stage failures append `:<stage>`)."""

    CALLER_HUNG_UP = "caller_hung_up"
    ASSISTANT_ENDED = "assistant_ended"
    MAX_DURATION = "max_duration"
    IDLE_TIMEOUT = "idle_timeout"
    PROVIDER_AUTH_FAILED = "provider_auth_failed"
    PROVIDER_RATE_LIMITED = "provider_rate_limited"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    KEY_NOT_FOUND = "key_not_found"
    SETUP_FAILED = "setup_failed"
    INSUFFICIENT_CREDIT = "insufficient_credit"
    ORG_CONCURRENCY_LIMIT = "org_concurrency_limit"
    SERVER_SHUTDOWN = "server_shutdown"
    SERVER_LOST = "server_lost"  # the serving worker died; closed by the billing sweeper
    HUNG_UP_BY_API = "hung_up_by_api"
    TELEPHONY_COMPLETED = "telephony_completed"
    NEVER_CONNECTED = "never_connected"
    # The worker was at capacity (the admission refused the call or its media stream).
    REJECTED_CAPACITY = "rejected_capacity"
    # The node was draining for a restart (SIGTERM) when the call arrived.
    REJECTED_DRAINING = "rejected_draining"
    # The media stream's call token or account did not match the call.
    REFUSED = "refused"
    MEDIA_FLOOD = "media_flood"  # the caller's side sent media far faster than real time
    ERROR = "error"

    def for_stage(self, stage: str) -> str:
        return f"{self.value}:{stage}"


class IllegalTransition(Conflict):
    """The call cannot move to that state from where it is."""

    code = "illegal_call_transition"


def can_transition(current: CallState, target: CallState) -> bool:
    """Forward moves only; ENDED is terminal; staying put is not a transition."""
    return target.rank > current.rank


class StateMachine:
    """The in-memory state of one live call."""

    __slots__ = ("_state",)

    def __init__(self, state: CallState = CallState.RINGING) -> None:
        self._state = state

    @property
    def state(self) -> CallState:
        return self._state

    @property
    def is_over(self) -> bool:
        return self._state in (CallState.ENDING, CallState.ENDED)

    def transition(self, target: CallState) -> CallState:
        """Move to `target` or raise IllegalTransition; returns the previous state."""
        if not can_transition(self._state, target):
            raise IllegalTransition(f"cannot go from {self._state.value} to {target.value}")
        previous, self._state = self._state, target
        return previous

    def try_transition(self, target: CallState) -> bool:
        """Move if allowed; False (and no change) otherwise. For racing end paths."""
        if not can_transition(self._state, target):
            return False
        self._state = target
        return True
