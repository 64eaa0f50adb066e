"""The assistant's audio on a live call (`telephony.twilio.transport.TwilioOutput`): Twilio's
20 ms frames, paced as it plays, marks after each utterance, and the goodbye played out
before the hang-up. Ratios of one call's own figures, never wall-clock thresholds."""

from __future__ import annotations

import asyncio

from tests.calls.harness import AUDIO, HELLO, Env, ended_call
from tests.calls.wire import Line, open_line
from voxroute.telephony.twilio.outbound import FRAME_S, FRAME_SAMPLES

GOODBYE = AUDIO / "utterance-04.ulaw8k.wav"
UTTERANCE_GAP_S = 0.25  # between two utterances; frames of one come every 20 ms


def utterances(line: Line) -> list[list[tuple[float, int]]]:
    """The received media messages, grouped into utterances by the pauses between them."""
    groups: list[list[tuple[float, int]]] = []
    for arrival in line.arrivals:
        if not groups or arrival[0] - groups[-1][-1][0] > UTTERANCE_GAP_S:
            groups.append([])
        groups[-1].append(arrival)
    return groups


async def test_audio_comes_in_20_ms_frames_at_the_pace_it_plays(env: Env) -> None:
    async with open_line(env.base) as line:
        await line.wait_for_audio(1.0, within_s=10)  # the first message
        await line.wait_until_quiet(0.6, within_s=15)
        line.play(HELLO)  # after it, so nothing is interrupted
        await line.wait_for_audio(1.0, within_s=15)  # the reply
        await line.wait_until_quiet(0.6, within_s=15)
    groups = utterances(line)
    assert len(groups) >= 2, [len(g) for g in groups]
    assert {size for _, size in line.arrivals} == {FRAME_SAMPLES}
    for group in groups:
        played_s = len(group) * FRAME_S
        sent_over_s = group[-1][0] - group[0][0]
        # Released as it plays (a few frames ahead), not in a burst nor at pipecat's 2×.
        assert sent_over_s > 0.8 * played_s, (sent_over_s, played_s)
    assert line.events.count("mark") >= 2 and "clear" not in line.events


async def test_the_goodbye_is_played_out_before_the_call_is_hung_up(env: Env) -> None:
    env.suite.set_script(["Thank you, that is all. Goodbye."])
    async with open_line(env.base) as line:
        await line.wait_for_audio(1.0, within_s=10)
        await line.wait_until_quiet(0.6, within_s=15)
        line.play(GOODBYE)
        await asyncio.wait_for(line.closed.wait(), 30)
    assert line.closed_at is not None
    goodbye = utterances(line)[-1]
    played_s = len(goodbye) * FRAME_S
    assert played_s > 1.0
    # The socket closes (after the REST hang-up) once the goodbye has played at the far
    # end, not when its last frame was sent.
    assert line.closed_at - goodbye[0][0] > 0.9 * played_s, (line.closed_at, goodbye[0][0])
    stored = await ended_call(env)
    assert stored.end_reason == "assistant_ended"
    hangups = [c for c in env.suite.emulator("twilio").calls if c["status"] == "completed"]
    assert [h["call_sid"] for h in hangups] == [line.call_sid]
