"""Browser pages: the organization dashboard and the softphone.

The dashboard is served at `/` and `/dashboard`, the softphone at `/softphone`, their
scripts under `/web/static/`.
"""

from __future__ import annotations

from fastapi import FastAPI

from voxroute.web.pages import router

__all__ = ["mount_web"]


def mount_web(app: FastAPI) -> None:
    """Serve the pages on `app` (call once, from the app factory)."""
    app.include_router(router)
