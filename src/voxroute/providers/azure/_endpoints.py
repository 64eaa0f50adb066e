"""Azure Speech URLs. Real Azure is addressed by region; an override by a region prefix.

Real service                                         With ``base_url`` override ``B``
``https://{region}.api.cognitive.microsoft.com``     ``B/{region}`` (key check: issueToken)
``wss://{region}.stt.speech.microsoft.com/...``      ``ws(B)/{region}/speech/recognition/...``
``wss://{region}.tts.speech.microsoft.com/...``      ``ws(B)/{region}/tts/cognitiveservices/...``

The region is validated before it becomes part of a host name, so a tenant-supplied value
can never redirect a request to another host.
"""

from __future__ import annotations

import re

from voxroute.errors import InvalidInput
from voxroute.providers.urls import join_url, resolve_base, to_ws

__all__ = [
    "check_region",
    "issue_token_url",
    "stt_private_endpoint",
    "tts_private_endpoint",
]

_REGION = re.compile(r"[a-z][a-z0-9]{2,30}")
ISSUE_TOKEN_PATH = "/sts/v1.0/issueToken"  # noqa: S105 - a URL path, not a secret
STT_PATH = "/speech/recognition/conversation/cognitiveservices/v1"
TTS_PATH = "/tts/cognitiveservices/websocket/v1"


def check_region(region: str) -> str:
    """The region if it is a plain lowercase Azure region name (e.g. ``eastus``)."""
    if not _REGION.fullmatch(region):
        raise InvalidInput("Azure region must be lowercase letters and digits, e.g. eastus")
    return region


def issue_token_url(region: str, base_url: str | None) -> str:
    """Where ``POST issueToken`` validates a key in its region."""
    region = check_region(region)
    if base_url:
        return join_url(join_url(resolve_base(base_url, ""), region), ISSUE_TOKEN_PATH)
    return f"https://{region}.api.cognitive.microsoft.com{ISSUE_TOKEN_PATH}"


def stt_private_endpoint(region: str, base_url: str) -> str:
    """Speech SDK ``endpoint=`` for recognition behind an override host."""
    return join_url(join_url(to_ws(resolve_base(base_url, "")), check_region(region)), STT_PATH)


def tts_private_endpoint(region: str, base_url: str) -> str:
    """Speech SDK ``endpoint=`` for synthesis behind an override host."""
    return join_url(join_url(to_ws(resolve_base(base_url, "")), check_region(region)), TTS_PATH)
