"""Endpoint conventions: one place that turns a platform base URL into provider URLs.

``ServiceKey.base_url`` (and the ``base_url`` of a validation check) is a platform-level
override such as ``http://127.0.0.1:PORT`` (an emulator); ``None`` means the real provider.
Websocket services need the same host with a ``ws``/``wss`` scheme, which `to_ws` derives.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from voxroute.errors import ConfigError

__all__ = ["join_url", "resolve_base", "to_ws"]

_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def _check(url: str) -> tuple[str, str, str, str, str]:
    parts = urlsplit(url)
    if parts.scheme not in _WS_SCHEMES or not parts.netloc:
        # The URL is platform configuration, never secret, so it may be quoted.
        raise ConfigError(f"provider base URL must be http(s):// or ws(s)://host, got {url!r}")
    return parts.scheme, parts.netloc, parts.path, parts.query, parts.fragment


def to_ws(url: str) -> str:
    """``http→ws`` and ``https→wss`` (``ws``/``wss`` unchanged); path and query are kept."""
    scheme, netloc, path, query, fragment = _check(url)
    return urlunsplit((_WS_SCHEMES[scheme], netloc, path, query, fragment))


def join_url(base: str, path: str) -> str:
    """``base`` without trailing slash + ``path`` with exactly one leading slash."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def resolve_base(override: str | None, default: str) -> str:
    """The override when given (validated, no trailing slash), otherwise the real host."""
    if override is None or override == "":
        return default
    _check(override)
    return override.rstrip("/")
