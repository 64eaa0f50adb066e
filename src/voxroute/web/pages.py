"""The dashboard and softphone pages and their static assets, behind a strict CSP.

Pages are static files: no templating, so nothing user-controlled is ever rendered server
side. Scripts are files under `static/` (the CSP forbids inline script), and the pages read
their data from `/api/v1` with the token the user pastes (kept in sessionStorage).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from voxroute.errors import NotFound
from voxroute.package_data import package_path

__all__ = ["ASSETS", "STATIC_DIR", "content_security_policy", "router"]

STATIC_DIR = package_path("voxroute.web", "static")
ASSET_PREFIX = "/web/static"
# Served by name only: no path from the request ever reaches the filesystem.
ASSETS: dict[str, str] = {
    "app.css": "text/css; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "audio-wire.js": "text/javascript; charset=utf-8",
    "capture-worklet.js": "text/javascript; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "softphone.js": "text/javascript; charset=utf-8",
}
_ORIGIN_HOST = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")

router = APIRouter(include_in_schema=False)


def _stream_origin(public_url: str | None) -> str | None:
    """ws(s)://host[:port] of the media websocket when it differs from the page's origin."""
    if not public_url:
        return None
    parts = urlsplit(public_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme)
    if scheme is None or not parts.netloc or not _ORIGIN_HOST.match(parts.netloc):
        return None
    return f"{scheme}://{parts.netloc}"


def content_security_policy(public_url: str | None) -> str:
    """Same-origin script, style and fetch; the stream's websocket origin; nothing inline."""
    connect = "'self'"
    origin = _stream_origin(public_url)
    if origin is not None:
        connect += f" {origin}"
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def _public_url(request: Request) -> str | None:
    runtime = getattr(request.app.state, "runtime", None)
    settings = getattr(runtime, "settings", None)
    url = getattr(settings, "resolved_public_url", None)
    return url if isinstance(url, str) else None


def _headers(request: Request, *, microphone: bool) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(_public_url(request)),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": f"microphone=({'self' if microphone else ''}), camera=()",
        "Cache-Control": "no-store",
    }


def _page(request: Request, name: str, *, microphone: bool = False) -> FileResponse:
    return FileResponse(
        STATIC_DIR / name,
        media_type="text/html; charset=utf-8",
        headers=_headers(request, microphone=microphone),
    )


@router.get("/")
@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    """The organization dashboard."""
    return _page(request, "dashboard.html")


@router.get("/softphone")
async def softphone(request: Request) -> Response:
    """The browser softphone."""
    return _page(request, "softphone.html", microphone=True)


@router.get(ASSET_PREFIX + "/{name}")
async def asset(request: Request, name: str) -> Response:
    """One whitelisted script or stylesheet."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("no such asset")
    headers = _headers(request, microphone=False)
    headers["Cache-Control"] = "no-cache"
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=headers)
