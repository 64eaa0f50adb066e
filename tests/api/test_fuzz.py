"""The whole API under schemathesis, in-process, on SQLite and PostgreSQL.

Driven by the app's own `/openapi.json`: examples, coverage (boundary and negative values),
fuzzing (positive and negative data) and stateful sequences along the spec's links, with
real ids of a seeded organization (assistant, credential, number, call) mixed into path
parameters. Checks: no server error, response schema, status code and content type
conformance, and negative data rejected. Bounded by a per-database time budget and example
count; a run prints its summary (operations, requests, failures).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import from_schema
from schemathesis.engine.events import FatalError, NonFatalError, ScenarioFinished
from schemathesis.python import asgi

from tests.utils.api import make_settings
from voxroute.app import create_app
from voxroute.auth import Role, issue_token
from voxroute.db.base import new_id
from voxroute.db.models import Call
from voxroute.db.session import create_engine, create_session_factory, transaction
from voxroute.orgs import create_org

# A few minutes in all on two shared cores; raise locally with VOXROUTE_FUZZ_SECONDS.
BUDGET_S = int(os.environ.get("VOXROUTE_FUZZ_SECONDS", "100"))
MAX_EXAMPLES = int(os.environ.get("VOXROUTE_FUZZ_EXAMPLES", "40"))
HOSTILE = ("\x00", "a\x00b", "x\x07y", "../../v1/x?y=1", "+1555\x00")
HOSTILE_FIELDS = (
    "query.action",
    "query.provider",
    "body.name",
    "body.system_prompt",
    "body.first_message",
    "body.label",
    "body.description",
    "body.assistant_id",
    "body.number",
    "body.org_id",
    "body.provider",
    "body.llm_config.model",
    "body.tts_config.voice_id",
    "body.stt_config.language",
)
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


@dataclass
class Seeded:
    owner: str
    admin: str
    org_id: str
    call_id: str
    ids: dict[str, str] = field(default_factory=dict)


async def _seed_database(db_url: str) -> Seeded:
    engine = create_engine(db_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            org, owner = await create_org(session, name="fuzzed", byok=True)
            _, admin = await issue_token(session, role=Role.PLATFORM_ADMIN, org_id=None)
            call = Call(
                id=new_id("call"),
                org_id=org.id,
                telephony_provider="twilio",
                provider_call_id="CA" + "f" * 32,
                from_number="+15550001111",
                to_number="+15550002222",
                status="ended",
            )
            session.add(call)
        return Seeded(owner=owner, admin=admin, org_id=org.id, call_id=call.id)
    finally:
        await engine.dispose()


def _seed_api(app: Any, seeded: Seeded) -> None:
    """Real resources, created through the API the way a tenant would."""
    owner = {"Authorization": f"Bearer {seeded.owner}"}
    with asgi.get_client(app) as client:
        base = "/api/v1"
        credential = client.post(
            f"{base}/credentials",
            json={"provider": "openai", "fields": {"api_key": "sk-fuzz-" + "0a1b" * 8}},
            headers=owner,
        )
        assistant = client.post(
            f"{base}/assistants",
            json={
                "name": "fuzzed",
                "stt_config": {"provider": "deepgram"},
                "llm_config": {"provider": "openai"},
                "tts_config": {"provider": "cartesia"},
            },
            headers=owner,
        )
        number = client.post(
            f"{base}/phone-numbers",
            json={
                "number": "+15557654321",
                "assistant_id": assistant.json()["id"],
                "telephony": {"account_sid": "AC" + "1f" * 16, "auth_token": "2e" * 16},
            },
            headers=owner,
        )
        for response in (credential, assistant, number):
            assert response.status_code == 201, response.text
    seeded.ids = {
        "credential_id": credential.json()["id"],
        "assistant_id": assistant.json()["id"],
        "number_id": number.json()["id"],
        "call_id": seeded.call_id,
        "org_id": seeded.org_id,
    }


def _config(seeded: Seeded) -> schemathesis.Config:
    admin_only = "^/api/v1/(admin/|billing/credits)"
    return schemathesis.Config.from_dict(
        {
            "seed": 20261207,
            "max-time": BUDGET_S,
            "continue-on-failure": True,
            "headers": {"Authorization": f"Bearer {seeded.owner}"},
            "operations": [
                {
                    "include-path-regex": admin_only,
                    "headers": {"Authorization": f"Bearer {seeded.admin}"},
                }
            ],
            "generation": {"max-examples": MAX_EXAMPLES, "allow-x00": True},
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                # 413: a negative body too large for the server's limit is rejected too.
                "negative_data_rejection": {
                    "enabled": True,
                    "expected-statuses": [400, 401, 403, 404, 405, 409, 413, 415, 422, 429],
                },
            },
            "phases": {"stateful": {"max-steps": 12}},
            # Real ids (and the same ids with a NUL) in path parameters; control characters
            # and traversal in the text fields that reach queries and provider URLs.
            "dictionaries": {
                "hostile": {"values": list(HOSTILE)},
                **{name: {"values": [value, value + "\x00"]} for name, value in seeded.ids.items()},
            },
            "parameters": {
                **{f"path.{name}": {"dictionary": name, "probability": 0.6} for name in seeded.ids},
                **{key: {"dictionary": "hostile", "probability": 0.3} for key in HOSTILE_FIELDS},
            },
        }
    )


@dataclass
class Summary:
    operations: set[str] = field(default_factory=set)
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    phases: Counter[str] = field(default_factory=Counter)
    errors: int = 0  # exceptions raised through the app (each a server error)
    with_nul: int = 0  # requests carrying a NUL in the URL or a JSON string
    failures: list[str] = field(default_factory=list)

    def line(self, database: str) -> str:
        server_errors = self.errors + sum(n for s, n in self.statuses.items() if s >= 500)
        return (
            f"schemathesis on {database}: {len(self.operations)} operations, "
            f"{self.requests} requests ({self.with_nul} with a NUL), "
            f"{len(self.failures)} failures, "
            f"{server_errors} server errors; requests by phase {dict(self.phases)}; "
            f"statuses {dict(sorted(self.statuses.items()))}"
        )


def _run(app: Any) -> Summary:
    summary = Summary()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_CONFIG[id(app)])
    for event in from_schema(schema).execute():
        if isinstance(event, ScenarioFinished):
            if event.phase.value != "stateful":
                summary.operations.add(event.recorder.label)
            for interaction in event.recorder.interactions.values():
                summary.requests += 1
                summary.phases[event.phase.value] += 1
                request = interaction.request
                if "%00" in request.uri or b"\\u0000" in (request.body or b""):
                    summary.with_nul += 1
                if interaction.response is not None:
                    summary.statuses[interaction.response.status_code] += 1
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        summary.failures.append(
                            f"{event.recorder.label}: {check.name}: {failure.title}\n"
                            f"{failure.message}\n{check.failure_info.code_sample}"
                        )
        elif isinstance(event, (NonFatalError, FatalError)):
            # An exception out of the app (the response was a 500 already) lands here.
            summary.errors += 1
            summary.failures.append(f"{getattr(event, 'label', 'engine')}: {event.info.format()}")
    return summary


_CONFIG: dict[int, schemathesis.Config] = {}


@pytest.mark.filterwarnings("ignore")
def test_no_input_makes_the_api_fail_or_break_its_spec(
    db_url: str, tmp_path: Path, engine: object
) -> None:
    seeded = asyncio.run(_seed_database(db_url))
    settings = make_settings(tmp_path, db_url, emulators="on")
    app = create_app(settings)
    try:
        _seed_api(app, seeded)
        _CONFIG[id(app)] = _config(seeded)
        summary = _run(app)
    finally:
        asgi.shutdown_lifespans()
    database = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    print("\n" + summary.line(database))
    assert len(summary.operations) >= 40, summary.operations
    assert not summary.failures, "\n\n".join(dict.fromkeys(summary.failures))
