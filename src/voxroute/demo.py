"""The embedded default's demo: an org, an assistant, a number and the command to call it.

Everything needed to place a test call (owner token, Twilio account SID and auth token of the
demo number) is written to `<data_dir>/demo.json` with mode 0600 — the operator's machine
already holds the keyring there, so this adds no new exposure.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voxroute.assistants import AssistantService
from voxroute.credentials import CredentialScope, CredentialStore
from voxroute.db.base import new_id
from voxroute.db.models import Organization, PhoneNumber
from voxroute.orgs import create_org
from voxroute.providers.catalog import Catalog

DEMO_ORG_NAME = "Demo"
DEMO_NUMBER = "+15550100000"
DEMO_CALLER = "+15550109999"
DEMO_CREDIT_MICROS = 5_000_000  # $5 of platform credit for test calls
DEMO_ASSISTANT = {
    "name": "Demo receptionist",
    "system_prompt": "You are a friendly receptionist. Keep answers short.",
    "first_message": "Hello! Thanks for calling the voxroute demo. How can I help?",
    "failure_policy": None,
    "max_duration_s": 300,
    "idle_timeout_s": 30,
    "stt_config": {"provider": "deepgram", "model": "nova-3-general", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini"},
    "tts_config": {
        "provider": "cartesia",
        "model": "sonic-3",
        "voice_id": "a0e99841-438c-4a64-b679-ae501e7d6091",
    },
}


@dataclass(frozen=True)
class DemoInfo:
    """What `voxroute call` needs to call the demo number, as saved in `demo.json`."""

    org_id: str
    token: str
    assistant_id: str
    number: str
    caller: str
    account_sid: str
    auth_token: str


def demo_file(data_dir: Path) -> Path:
    """Where the demo's details, owner token included, are kept (mode 0600)."""
    return data_dir / "demo.json"


def _write_private(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)


def load_demo(data_dir: Path) -> DemoInfo | None:
    """The saved demo, or None if this data directory has none yet."""
    path = demo_file(data_dir)
    if not path.exists():
        return None
    return DemoInfo(**json.loads(path.read_text()))


async def ensure_demo(
    session: AsyncSession, *, data_dir: Path, store: CredentialStore, catalog: Catalog
) -> DemoInfo:
    """Create the demo org once; later starts reuse it (and its saved token)."""
    existing = load_demo(data_dir)
    if existing is not None and await session.get(Organization, existing.org_id) is not None:
        return existing
    org, token = await create_org(session, name=DEMO_ORG_NAME, byok=True)
    assistant = await AssistantService(store, catalog).create(
        session, org_id=org.id, data=dict(DEMO_ASSISTANT), actor="system"
    )
    account_sid = "AC" + secrets.token_hex(16)
    auth_token = secrets.token_hex(16)
    cred = await store.create(
        session,
        org_id=org.id,
        provider="twilio",
        values={"auth_token": auth_token},
        scope=CredentialScope.TELEPHONY,
        actor="system",
        label=DEMO_NUMBER,
    )
    stale = await session.scalar(select(PhoneNumber).where(PhoneNumber.number == DEMO_NUMBER))
    if stale is not None:
        await session.delete(stale)
        await session.flush()
    session.add(
        PhoneNumber(
            id=new_id("num"),
            org_id=org.id,
            number=DEMO_NUMBER,
            assistant_id=assistant.id,
            telephony_provider="twilio",
            account_sid=account_sid,
            credential_id=cred.id,
        )
    )
    await session.flush()
    info = DemoInfo(
        org_id=org.id,
        token=token,
        assistant_id=assistant.id,
        number=DEMO_NUMBER,
        caller=DEMO_CALLER,
        account_sid=account_sid,
        auth_token=auth_token,
    )
    _write_private(demo_file(data_dir), asdict(info))
    return info


def demo_managed_keys(catalog: Catalog) -> dict[str, dict[str, str]]:
    """Random platform keys for the emulated providers (valid only against the emulators)."""
    keys: dict[str, dict[str, str]] = {}
    for spec in catalog:
        fields = {name: f"demo-{spec.id}-{secrets.token_hex(12)}" for name in spec.secret_fields}
        for name in spec.public_fields:
            fields[name] = "eastus" if name == "region" else "demo-workspace"
        keys[spec.id] = fields
    return keys
