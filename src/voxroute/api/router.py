"""The /api/v1 router: one sub-router per resource."""

from fastapi import APIRouter

from voxroute.api.routes import (
    admin,
    assistants,
    audit,
    billing,
    byok,
    calls,
    credentials,
    nodes,
    numbers,
    org,
    web_calls,
)

api_router = APIRouter()
ROUTERS = (
    admin,
    nodes,
    org,
    byok,
    credentials,
    assistants,
    numbers,
    web_calls,
    calls,
    billing,
    audit,
)
for module in ROUTERS:
    api_router.include_router(module.router)
