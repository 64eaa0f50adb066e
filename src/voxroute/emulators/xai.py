"""xAI (Grok) emulator: the OpenAI-compatible REST API with xAI's own error shape.

A bad key is HTTP **400** (not 401) with ``{"code": …, "error": "Incorrect API key …"}``,
which the openai SDK raises as ``BadRequestError`` (provider-protocols.md §3.7).
"""

from __future__ import annotations

from typing import ClassVar

from aiohttp import web

from ._base import exchange_of
from .openai import OpenAIEmulator, mask_key

__all__ = ["XAIEmulator"]

_FAULTS = {
    401: "Incorrect API key provided.",
    403: "The API key does not have permission to access this resource.",
    429: "Rate limit exceeded. Please slow down your requests.",
    500: "Internal server error.",
    503: "Service temporarily unavailable.",
}


def xai_error(status: int, code: str, message: str) -> web.Response:
    """The flat ``{"code", "error"}`` error body xAI sends."""
    headers = {"x-should-retry": "false"} if status >= 500 else {}
    return web.json_response({"code": code, "error": message}, status=status, headers=headers)


class XAIEmulator(OpenAIEmulator):
    """``/v1/chat/completions``, ``/v1/models``, ``/v1/api-key``."""

    provider: ClassVar[str] = "xai"
    models: ClassVar[tuple[str, ...]] = (
        "grok-4.20-non-reasoning",
        "grok-4",
        "grok-3-mini",
    )

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """The OpenAI-compatible routes plus the key introspection endpoint."""
        router.add_post("/v1/chat/completions", self.chat)
        router.add_get("/v1/models", self.list_models)
        router.add_get("/v1/models/{model}", self.get_model)
        router.add_get("/v1/api-key", self.api_key)

    def auth_error(self, request: web.Request, presented: str | None) -> web.Response:
        """HTTP 400, as xAI answers unknown or missing keys."""
        shown = mask_key(presented) if presented else ""
        return xai_error(
            400,
            "Client specified an invalid argument",
            f"Incorrect API key provided: {shown}. You can obtain an API key from "
            "https://console.x.ai.",
        )

    def fault_error(self, request: web.Request, status: int) -> web.Response:
        """xAI-shaped bodies for injected statuses."""
        return xai_error(
            status,
            "Client specified an invalid argument" if status < 500 else "Internal error",
            _FAULTS[status],
        )

    def bad_request(self, request: web.Request, message: str) -> web.Response:
        """400 with xAI's body."""
        return xai_error(400, "Client specified an invalid argument", message)

    async def api_key(self, request: web.Request) -> web.Response:
        """Key introspection; ``redacted_api_key`` never holds the key itself."""
        key = exchange_of(request).key
        key_id = key.key_id if key else "unknown"
        return web.json_response(
            {
                "redacted_api_key": "xai-...****",
                "user_id": "emulated-user",
                "name": key_id,
                "create_time": "2026-01-01T00:00:00Z",
                "modify_time": "2026-01-01T00:00:00Z",
                "modified_by": "emulated-user",
                "team_id": "emulated-team",
                "acls": ["api-key:model:*", "api-key:endpoint:*"],
                "api_key_id": key_id,
                "team_blocked": False,
                "api_key_blocked": False,
                "api_key_disabled": False,
            }
        )
