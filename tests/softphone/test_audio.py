from __future__ import annotations

from pathlib import Path

import numpy as np

from voxroute.softphone.audio import (
    FRAME_BYTES,
    frames_of,
    load_ulaw,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
    write_ulaw_wav,
)

AUDIO = Path(__file__).parents[1] / "data" / "audio"


def test_ulaw_round_trip_stays_close_to_the_original() -> None:
    pcm = (np.sin(np.linspace(0, 60, 8000)) * 12000).astype(np.int32)
    back = ulaw_to_pcm16(pcm16_to_ulaw(pcm)).astype(np.int32)
    assert np.max(np.abs(back - pcm)) < 12000 * 0.05


def test_16k_pcm_and_8k_ulaw_versions_of_a_clip_have_the_same_length() -> None:
    ulaw = load_ulaw(AUDIO / "utterance-01.ulaw8k.wav")
    converted = load_ulaw(AUDIO / "utterance-01.pcm16k.wav")
    assert abs(len(ulaw) - len(converted)) <= 2


def test_frames_are_20_ms_with_the_last_one_padded() -> None:
    frames = frames_of(b"\x00" * 330)
    assert [len(f) for f in frames] == [FRAME_BYTES] * 3 and frames[-1].endswith(b"\xff")


def test_received_audio_is_written_as_a_playable_wav(tmp_path: Path) -> None:
    write_ulaw_wav(tmp_path / "out.wav", b"\xff" * 1600)
    assert load_ulaw(tmp_path / "out.wav") is not None
