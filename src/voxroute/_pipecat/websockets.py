"""Provider websockets without permessage-deflate.

The websockets library offers compression by default, and the clients pipecat and the
Deepgram SDK open (STT audio out, transcripts and TTS audio in) take it. Audio barely
compresses (PCM, or base64 of it inside JSON), yet every message pays deflate on one
side and inflate on the other: in a profile of 30 live calls per worker, deflate in the
STT send path was the largest single item of the event loop's busiest moments
Deepgram's and Cartesia's own streaming examples send uncompressed.

The connect functions are looked up at call time from these modules' globals, so they
are replaced once per process with the same function, `compression=None` bound.
"""

from __future__ import annotations

import functools
import importlib

__all__ = ["CONNECT_FUNCTIONS", "disable_permessage_deflate"]

# (module, global name) of every websocket connect used by a provider service we build.
CONNECT_FUNCTIONS = (
    ("deepgram.listen.v1.client", "websockets_client_connect"),
    ("deepgram.listen.v1.raw_client", "websockets_client_connect"),
    ("pipecat.services.websocket_service", "websocket_connect"),
)


def disable_permessage_deflate() -> None:
    """Idempotent; affects only the modules listed above."""
    for module_name, name in CONNECT_FUNCTIONS:
        module = importlib.import_module(module_name)
        connect = getattr(module, name)
        if not isinstance(connect, functools.partial):
            setattr(module, name, functools.partial(connect, compression=None))
