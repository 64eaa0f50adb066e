"""Local provider emulators that speak each provider's real wire protocol.

Start them all with :meth:`EmulatorSuite.start` (tests) or :func:`serve_emulators`
(``voxroute emulators``); point SDKs and pipecat services at ``suite.base_urls[provider]``.
"""

from ._base import Emulator
from ._core import Fault, KeyRecord, RequestRecord, key_id_for
from .suite import PROVIDERS, EmulatorSuite, run_forever, serve_emulators

__all__ = [
    "PROVIDERS",
    "Emulator",
    "EmulatorSuite",
    "Fault",
    "KeyRecord",
    "RequestRecord",
    "key_id_for",
    "run_forever",
    "serve_emulators",
]
