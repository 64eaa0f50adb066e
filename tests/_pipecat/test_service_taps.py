"""`tap_service`: a service's metrics reach the meters without the pipeline, its word
progress frames go nowhere, and every other frame flows on as before (pipecat's own test
runner, real processors and queues)."""

from __future__ import annotations

from pipecat.frames.frames import (
    AggregatedTextProgressFrame,
    Frame,
    MetricsFrame,
    TextFrame,
    TTSTextFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import run_test

from voxroute._pipecat.service_taps import tap_service


class WordSpeaker(FrameProcessor):
    """For each text frame, what a TTS with word timestamps pushes: a metric, a word, its
    progress frame; and a metric upstream."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, TextFrame):
            await self.push_frame(frame, direction)
            return
        metric = TTFBMetricsData(processor=self.name, value=0.05)
        await self.push_frame(MetricsFrame(data=[metric]))
        await self.push_frame(TTSTextFrame(text=frame.text, text_type="word", context_id="c"))
        await self.push_frame(
            AggregatedTextProgressFrame(
                segment_id=1,
                context_id="c",
                text=frame.text,
                text_type="sentence",
                accumulated_text=frame.text,
                remaining_text="",
            )
        )
        await self.push_frame(MetricsFrame(data=[metric]), FrameDirection.UPSTREAM)


async def test_untapped_the_metrics_and_progress_frames_travel_downstream() -> None:
    """The control: without the tap, what the tap removes does reach the next processor."""
    down, up = await run_test(
        WordSpeaker(),
        frames_to_send=[TextFrame(text="hello")],
        expected_down_frames=[MetricsFrame, TTSTextFrame, AggregatedTextProgressFrame],
        expected_up_frames=[MetricsFrame],
    )
    assert isinstance(down[1], TTSTextFrame) and down[1].text == "hello"


async def test_tapped_metrics_go_to_the_meters_and_progress_frames_are_dropped() -> None:
    service = WordSpeaker()
    metrics: list[MetricsFrame] = []
    tap_service(service, metrics.append)
    down, up = await run_test(
        service,
        frames_to_send=[TextFrame(text="hello"), TextFrame(text="world")],
        expected_down_frames=[TTSTextFrame, TTSTextFrame],
        expected_up_frames=[],
    )
    assert [frame.text for frame in down] == ["hello", "world"]  # type: ignore[attr-defined]
    # Both directions' metrics, in the order they were made, with their data intact.
    assert len(metrics) == 4
    assert all(m.data[0].processor == service.name for m in metrics)
    assert all(isinstance(m.data[0], TTFBMetricsData) for m in metrics)
