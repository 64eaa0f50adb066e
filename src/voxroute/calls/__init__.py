"""Live calls: per-call session, pipeline builder, state, registry, usage and failover.

The call core knows no carrier: its media is a `telephony.media.MediaSession`.
"""


def warm_up() -> None:
    """Import the pipeline stack and load the VAD model now, at worker start-up.

    Without it the first call on a worker pays ~1-2 s of pipecat imports and the model load
    on the event loop, stalling every call that arrives meanwhile.
    """
    from voxroute.calls import session  # noqa: F401  (imports pipecat and the services)
    from voxroute.calls.vad import preload_vad

    preload_vad()
