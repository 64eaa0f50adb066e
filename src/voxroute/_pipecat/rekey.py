"""Re-pointing a running pipecat service at another key, through its private attributes.

pipecat has no public way to change a service's key. Its services keep what a key change
must replace in one of two private attributes: an SDK client built with the key (OpenAI,
Deepgram, OpenAI TTS: `_client`) or the raw key sent in a websocket handshake header
(Cartesia, ElevenLabs, Inworld, Resemble, Deepgram TTS: `_api_key`). Streaming services are
then reconnected through their private `_disconnect`/`_connect`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KEY_BEARING_ATTRS", "move_key", "reconnect"]

KEY_BEARING_ATTRS = ("_client", "_api_key")


def move_key(fresh: Any, service: Any) -> list[str]:
    """Move the key-bearing attributes of `fresh` (same class) onto `service`.

    Returns the names moved; none means the service holds no key we know how to replace.
    """
    moved = [name for name in KEY_BEARING_ATTRS if hasattr(fresh, name)]
    for name in moved:
        setattr(service, name, getattr(fresh, name))
    return moved


def is_streaming(service: Any) -> bool:
    return hasattr(service, "_connect")


async def reconnect(service: Any) -> None:
    """Drop the service's connection (made with the old key) and open a new one."""
    if hasattr(service, "_disconnect"):
        await service._disconnect()
    if not service.is_usable:
        await service.set_usable(True)
    await service._connect()
