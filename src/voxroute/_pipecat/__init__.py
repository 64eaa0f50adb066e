"""Every place voxroute reaches into pipecat (and the SDKs under it) beyond its public API.

pipecat moves fast (DESIGN §4), so each patch lives in this package and every name we
replace, wrap or call privately is listed in `PATCHED`; ``tests/_pipecat`` checks each
against the pinned version, so an upgrade that renames one fails there, not in a live call.

Process-wide, applied by `install()` (idempotent), which the runtime calls
(`voxroute.bootstrap.build_runtime`) so the app built by `create_app`, the CLI's workers and
the tests all run with them:

* `text_folding`: pipecat's word matching folds each string once (memoized `alnum_only`);
* `websockets`: provider websockets open without permessage-deflate.

Per service, used where a service is built or re-keyed:

* `service_taps.tap_service`: a service's metrics straight to the call's meters;
* `deepgram.deepgram_client_factory`: the Deepgram SDK client on the worker's shared pool;
* `rekey`: a running service moved to another key (`_client`/`_api_key`, `_connect`).

`calls/caller_audio.py` wraps an STT service's `start`/`stop`/`cancel`; those names are
registered here too.
"""

from __future__ import annotations

from voxroute._pipecat.deepgram import FACTORY_NAME
from voxroute._pipecat.text_folding import FOLDING_MODULES, memoize_text_folding
from voxroute._pipecat.websockets import CONNECT_FUNCTIONS, disable_permessage_deflate

__all__ = ["PATCHED", "install"]

# (module, dotted attribute) of every pipecat / SDK name we replace, wrap or call privately.
PATCHED: tuple[tuple[str, str], ...] = (
    *((module.__name__, "alnum_only") for module in FOLDING_MODULES),
    *CONNECT_FUNCTIONS,
    ("pipecat.services.deepgram.stt", FACTORY_NAME),
    ("pipecat.processors.frame_processor", "FrameProcessor.push_frame"),
    ("pipecat.services.ai_service", "AIService.start"),
    ("pipecat.services.ai_service", "AIService.stop"),
    ("pipecat.services.ai_service", "AIService.cancel"),
    ("pipecat.services.websocket_service", "WebsocketService._connect"),
    ("pipecat.services.websocket_service", "WebsocketService._disconnect"),
    ("pipecat.services.ai_service", "AIService.set_usable"),
)


def install() -> None:
    """Apply the process-wide patches (idempotent)."""
    memoize_text_folding()
    disable_permessage_deflate()
