"""The OpenAPI document, made truthful in one place.

FastAPI declares only each route's success code and a 422 of its own shape. This adds, for
every operation, the error answers the server can give in the API's one error shape
(`ErrorResponse`), names operations after their route functions, and declares the links
from each create operation to the reads, updates and deletes of what it created, so
generated clients and stateful fuzzers can follow them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from voxroute.api.schemas.responses import ErrorResponse

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_WRITES = {"post", "put", "patch", "delete"}
_DESCRIPTIONS = {
    400: "malformed request",
    401: "missing or unknown token",
    402: "the organization's credit cannot cover this",
    403: "the token's role may not do this",
    404: "no such resource in the caller's organization",
    409: "conflicts with the current state",
    413: "request body too large",
    422: "invalid input (the message names the field; input is never echoed)",
    429: "rate limited; see Retry-After",
    503: "temporarily unable to serve; retry",
}
# create operation → (id field of its 201 body, parameter name, operations on that id)
_LINKS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "create_assistant": (
        "id",
        "assistant_id",
        ("get_assistant", "update_assistant", "delete_assistant", "export_assistant"),
    ),
    "import_assistant": (
        "id",
        "assistant_id",
        ("get_assistant", "update_assistant", "delete_assistant", "export_assistant"),
    ),
    "create_credential": (
        "id",
        "credential_id",
        ("get_credential", "replace_credential", "update_credential", "delete_credential"),
    ),
    "create_number": ("id", "number_id", ("get_number", "update_number", "delete_number")),
    "admin_create_org": ("org_id", "org_id", ("admin_set_byok", "admin_create_token")),
}


# Operations that answer more than their path and method say.
_EXTRA_CODES: dict[str, set[int]] = {"create_web_call": {402}}


def _error_codes(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    codes = {401, 403, 422, 429, 503} | _EXTRA_CODES.get(operation.get("operationId", ""), set())
    if "{" in path or method in _WRITES:
        codes.add(404)
    if method in _WRITES:
        codes.add(409)
    if "requestBody" in operation:
        codes |= {400, 413}
    return codes


def _error_response(code: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[code],
        "content": {"application/json": {"schema": _ERROR_REF}},
    }


def _telephony_responses(operation: dict[str, Any]) -> None:
    """Twilio webhooks answer TwiML or nothing; refusals are plain text (Twilio's reading)."""
    text = {"content": {"text/plain": {"schema": {"type": "string"}}}}
    responses = operation["responses"]
    if operation["operationId"] == "voice_webhook":
        responses["200"] = {
            "description": "TwiML",
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    else:
        responses.pop("200", None)
        responses["204"] = {"description": "accepted"}
    responses["403"] = {"description": "unknown number, forged or missing signature", **text}
    responses["422"] = {"description": "not a Twilio form", **text}
    responses["413"] = _error_response(413)


def _add_links(schema: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for ops in schema["paths"].values() for op in ops.values()}
    for source, (field, param, targets) in _LINKS.items():
        created = by_id[source]["responses"]["201"]
        created["links"] = {
            target: {"operationId": target, "parameters": {param: f"$response.body#/{field}"}}
            for target in targets
        }


def operation_id(route: APIRoute) -> str:
    """Name each operation after its route function (`create_assistant`).

    Links and generated clients read these names; `build_openapi` checks they are unique.
    """
    return route.name


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the API's error responses, telephony answers and links."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorResponse"] = error_schema
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/telephony/"):
                _telephony_responses(operation)
                continue
            if not path.startswith("/api/"):
                continue
            for code in _error_codes(path, method, operation):
                operation["responses"][str(code)] = _error_response(code)
    ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), "route function names must be unique"
    _add_links(schema)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve `build_openapi(app)` (built once, on first request) as `/openapi.json`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
