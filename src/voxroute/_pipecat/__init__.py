"""Every place voxroute reaches into pipecat (and the SDKs under it) beyond its public API.

pipecat moves fast (DESIGN §4), so the names we replace or wrap are listed here in one
registry, `PATCHED`, and ``tests/_pipecat/test_patched_names.py`` checks each against the
pinned version: an upgrade that renames one fails that test, not a live call.

`install()` applies the process-wide patches, once per process (idempotent); the runtime
calls it (`voxroute.bootstrap.build_runtime`), so the app built by `create_app`, the CLI's
workers and the tests all run with them:

* `text_folding`: pipecat's word matching folds each string once (memoized `alnum_only`);
* `websockets`: provider websockets open without permessage-deflate.

The per-call wraps (a service's `push_frame` in `calls/service_taps.py`, an STT service's
`start`/`stop`/`cancel` in `calls/caller_audio.py`, `_connect` on a re-keyed streaming
service in `calls/services.py`, Deepgram's client factory in `providers/deepgram/stt.py`)
stay beside the code that needs them, but their names are registered here too.
"""

from __future__ import annotations

from voxroute._pipecat.text_folding import FOLDING_MODULES, memoize_text_folding
from voxroute._pipecat.websockets import CONNECT_FUNCTIONS, disable_permessage_deflate

__all__ = ["PATCHED", "install"]

# (module, dotted attribute) of every pipecat / SDK name we replace, wrap or call privately.
PATCHED: tuple[tuple[str, str], ...] = (
    *((module.__name__, "alnum_only") for module in FOLDING_MODULES),
    *CONNECT_FUNCTIONS,
    ("pipecat.services.deepgram.stt", "AsyncDeepgramClient"),
    ("pipecat.processors.frame_processor", "FrameProcessor.push_frame"),
    ("pipecat.services.ai_service", "AIService.start"),
    ("pipecat.services.ai_service", "AIService.stop"),
    ("pipecat.services.ai_service", "AIService.cancel"),
    ("pipecat.services.websocket_service", "WebsocketService._connect"),
)


def install() -> None:
    """Apply the process-wide patches (idempotent)."""
    memoize_text_folding()
    disable_permessage_deflate()
