"""Frames a call's services make that need no trip down the pipeline.

pipecat's services push two kinds of frame, per word or per measurement, whose only reader
here sits at the end of the pipeline, or nowhere:

* `MetricsFrame` (TTFB, processing time, usage): read only by the call's meters at the
  worker's sink, after three to five queue hops (output, assistant aggregator, sink).
* `AggregatedTextProgressFrame`: one per spoken word from every TTS since pipecat 1.13,
  for RTVI clients' word highlighting; a phone line has no RTVI client.

Counted over a 10-call run they were 43 % of the frames processed per turn. `tap_service`
hands a service's metrics to the meters where they are made and drops its progress frames;
everything else takes the pipeline as before.
"""

from __future__ import annotations

from collections.abc import Callable

from pipecat.frames.frames import AggregatedTextProgressFrame, Frame, MetricsFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

__all__ = ["tap_service"]


def tap_service(service: FrameProcessor, on_metrics: Callable[[MetricsFrame], None]) -> None:
    """From now on `service`'s metrics go to `on_metrics`, its progress frames nowhere.

    An instance-level `push_frame`: pipecat's processors push through `self.push_frame`,
    so every frame the service makes (its own and its base classes') passes here once.
    """
    push = service.push_frame

    async def push_frame(
        frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM
    ) -> None:
        if isinstance(frame, MetricsFrame):
            on_metrics(frame)
        elif not isinstance(frame, AggregatedTextProgressFrame):
            await push(frame, direction)

    service.push_frame = push_frame  # type: ignore[method-assign]
