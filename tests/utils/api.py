"""An app on the test database with real vault, catalog and resolver (no emulators)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from voxroute.app import create_app
from voxroute.auth import Role, issue_token
from voxroute.billing import topup
from voxroute.bootstrap import build_runtime
from voxroute.db.session import transaction
from voxroute.orgs import create_org
from voxroute.runtime import Runtime
from voxroute.settings import Settings

MANAGED = {
    "openai": {"api_key": "sk-managed-openai-000000"},
    "deepgram": {"api_key": "managed-deepgram-0000000"},
    "cartesia": {"api_key": "managed-cartesia-0000000"},
}


@dataclass
class Org:
    id: str
    owner: httpx.AsyncClient
    member: httpx.AsyncClient


@dataclass
class Api:
    runtime: Runtime
    admin: httpx.AsyncClient
    anon: httpx.AsyncClient
    app: object
    # Credit every `new_org` starts with (micro-USD); 0 like a real new org by default.
    new_org_credit_micros: int = 0

    def client(self, token: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://test/api/v1",
            headers=headers,
        )  # type: ignore[arg-type]

    async def new_org(self, name: str = "Acme", byok: bool = True) -> Org:
        async with transaction(self.runtime.session_factory) as session:
            org, owner_token = await create_org(session, name=name, byok=byok)
            _, member_token = await issue_token(session, role=Role.MEMBER, org_id=org.id)
        if self.new_org_credit_micros:
            await topup(
                self.runtime.session_factory,
                org_id=org.id,
                amount_micros=self.new_org_credit_micros,
                idempotency_key=f"test-credit-{org.id}",
            )
        return Org(id=org.id, owner=self.client(owner_token), member=self.client(member_token))


def make_settings(tmp_path: Path, db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        data_dir=tmp_path,
        database_url=db_url,
        emulators="off",
        demo_org=False,
        managed_keys=MANAGED,
        max_body_bytes=64 * 1024,
        # The test client, the emulators and the server share one loop: its busy share says
        # nothing about the server (admission on it is tested in tests/calls/test_registry.py).
        loop_busy_limit_pct=100,
        # No carrier to ask offline: verification runs against the Twilio emulator in
        # tests/api/test_number_verification.py.
        verify_carrier_numbers=False,
        # Tests fire many requests from one org at once; rate limits are tested on their own.
        api_rate_burst=1_000_000,
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def api_settings() -> dict[str, object]:
    """Settings overrides for the `api` fixture; a test module overrides this fixture."""
    return {}


@pytest.fixture
async def api(
    tmp_path: Path, db_url: str, engine: object, api_settings: dict[str, object]
) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path, db_url, **api_settings)
    app = create_app(settings)
    async with build_runtime(settings) as runtime:
        app.state.runtime = runtime
        async with transaction(runtime.session_factory) as session:
            _, admin_token = await issue_token(session, role=Role.PLATFORM_ADMIN, org_id=None)
        api = Api(runtime=runtime, admin=httpx.AsyncClient(), anon=httpx.AsyncClient(), app=app)
        api.admin = api.client(admin_token)
        api.anon = api.client(None)
        yield api
