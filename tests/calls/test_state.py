from __future__ import annotations

import pytest

from voxroute.calls.state import CallState, EndReason, IllegalTransition, StateMachine


def test_a_call_moves_forward_through_its_lifecycle() -> None:
    machine = StateMachine()
    for target in (CallState.CONNECTED, CallState.ENDING, CallState.ENDED):
        machine.transition(target)
    assert machine.state is CallState.ENDED


def test_a_ringing_call_may_end_directly() -> None:
    machine = StateMachine()
    machine.transition(CallState.ENDED)
    assert machine.is_over


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (CallState.CONNECTED, CallState.RINGING),
        (CallState.ENDED, CallState.CONNECTED),
        (CallState.ENDING, CallState.ENDING),
        (CallState.ENDED, CallState.ENDED),
    ],
)
def test_a_call_never_moves_backwards_or_repeats_a_state(
    start: CallState, target: CallState
) -> None:
    machine = StateMachine(start)
    with pytest.raises(IllegalTransition):
        machine.transition(target)
    assert machine.state is start
    assert machine.try_transition(target) is False


def test_stage_end_reasons_name_the_stage() -> None:
    assert EndReason.PROVIDER_AUTH_FAILED.for_stage("stt") == "provider_auth_failed:stt"
