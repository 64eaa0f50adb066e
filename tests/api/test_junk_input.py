"""No endpoint answers 5xx to junk: every route of the OpenAPI schema gets malformed JSON,
wrong types and unknown ids, as an owner, and must answer a clear 4xx."""

from __future__ import annotations

import re

import httpx

from tests.utils.api import Api

JUNK_BODIES: list[object] = [
    None,
    [],
    "text",
    12,
    {"provider": 5},
    {"fields": "nope"},
    {"x" * 50: [1, {"y": None}]},
]


async def test_every_route_answers_junk_with_a_4xx(api: Api) -> None:
    org = await api.new_org()
    for client in (org.owner, api.admin, org.member):
        await _hammer(api, client)


async def _hammer(api: Api, client: httpx.AsyncClient) -> None:
    schema = api.app.openapi()  # type: ignore[attr-defined]
    checked = 0
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        concrete = re.sub(r"\{[^}]+\}", "zz_unknown_id", path).removeprefix("/api/v1")
        for method in operations:
            if method not in ("post", "put", "patch", "delete"):
                response = await client.request(method.upper(), concrete)
                assert response.status_code < 500, (method, path, response.text)
                checked += 1
                continue
            for body in JUNK_BODIES:
                response = await client.request(method.upper(), concrete, json=body)
                assert response.status_code < 500, (method, path, body, response.text)
                assert response.status_code >= 400 or method == "delete" or "byok" in path, (
                    method,
                    path,
                    body,
                )
                checked += 1
            raw = await client.request(
                method.upper(),
                concrete,
                content=b"{\x00not json",
                headers={"content-type": "application/json"},
            )
            assert raw.status_code < 500, (method, path, raw.text)
    assert checked > 80
