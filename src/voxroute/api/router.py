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
    numbers,
    org,
)

api_router = APIRouter()
for module in (admin, org, byok, credentials, assistants, numbers, calls, billing, audit):
    api_router.include_router(module.router)
