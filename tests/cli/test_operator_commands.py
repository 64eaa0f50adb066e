"""The operator CLI against a real data directory: orgs, tokens, master-key rotation, serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.utils.serve_process import serve_args, start_and_wait

VOXROUTE = [sys.executable, "-m", "voxroute.cli.main"]


def run(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXROUTE_")}
    env["VOXROUTE_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [*VOXROUTE, *args], env=env, capture_output=True, text=True, timeout=120, check=check
    )


def test_admin_create_org_prints_an_owner_token_that_works(tmp_path: Path) -> None:
    created = json.loads(run(tmp_path, "admin", "create-org", "Acme", "--byok").stdout)
    assert created["org_id"].startswith("org_") and created["token"].startswith("vxr_")
    assert created["org"]["byok_enabled"] is True and created["org"]["use_own_keys"] is True
    member = json.loads(
        run(
            tmp_path, "admin", "create-token", "--org", created["org_id"], "--role", "member"
        ).stdout
    )
    assert member["role"] == "member" and member["token"] != created["token"]
    off = json.loads(run(tmp_path, "admin", "set-byok", created["org_id"], "off").stdout)
    assert off["byok_enabled"] is False and off["use_own_keys"] is False
    topped = json.loads(run(tmp_path, "admin", "topup", created["org_id"], "1500000").stdout)
    assert topped["balance"]["balance_micros"] == 1_500_000
    limited = json.loads(run(tmp_path, "admin", "set-call-limit", created["org_id"], "200").stdout)
    assert limited["max_concurrent_calls"] == 200
    zero = run(tmp_path, "admin", "set-call-limit", created["org_id"], "0", check=False)
    assert zero.returncode == 2 and "at least 1" in zero.stderr
    listed = json.loads(run(tmp_path, "admin", "list-orgs").stdout)
    assert listed[0]["max_concurrent_calls"] == 200
    assert [o["name"] for o in listed] == ["Acme"]
    missing = run(tmp_path, "admin", "set-byok", "org_nope", "on", check=False)
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_admin_tokens_are_listed_without_values_and_revoked_by_id(tmp_path: Path) -> None:
    created = json.loads(run(tmp_path, "admin", "create-org", "Acme").stdout)
    org_id = created["org_id"]
    member = json.loads(
        run(tmp_path, "admin", "create-token", "--org", org_id, "--expires-in-days", "3").stdout
    )
    assert member["expires_at"] is not None
    listed = run(tmp_path, "admin", "list-tokens", "--org", org_id)
    assert member["token"] not in listed.stdout and created["token"] not in listed.stdout
    rows = {t["id"]: t for t in json.loads(listed.stdout)}
    assert rows[member["id"]]["prefix"] == member["token"][:12]
    assert rows[member["id"]]["revoked_at"] is None

    revoked = json.loads(run(tmp_path, "admin", "revoke-token", member["id"]).stdout)

    assert revoked["revoked_at"] is not None
    again = {
        t["id"]: t
        for t in json.loads(run(tmp_path, "admin", "list-tokens", "--org", org_id).stdout)
    }
    assert again[member["id"]]["revoked_at"] == revoked["revoked_at"]
    unknown = run(tmp_path, "admin", "revoke-token", "tok_nope", check=False)
    assert unknown.returncode == 2 and "not found" in unknown.stderr
    bad = run(
        tmp_path, "admin", "create-token", "--platform", "--expires-in-days", "0", check=False
    )
    assert bad.returncode == 2 and "at least 1" in bad.stderr


def test_keys_rotate_rewrap_and_retire_keep_secrets_readable(tmp_path: Path) -> None:
    import asyncio

    from voxroute.credentials import CredentialScope, CredentialStore
    from voxroute.db.migrate import upgrade
    from voxroute.db.models import Credential
    from voxroute.db.session import create_engine, create_session_factory, transaction
    from voxroute.orgs import create_org
    from voxroute.providers.catalog import load_catalog
    from voxroute.settings import Settings
    from voxroute.vault import Vault
    from voxroute.vault.master.factory import master_key_provider_from_settings

    settings = Settings(data_dir=tmp_path)

    async def seal() -> str:
        engine = create_engine(settings.resolved_database_url)
        await upgrade(engine)
        store = CredentialStore(Vault(master_key_provider_from_settings(settings)), load_catalog())
        async with transaction(create_session_factory(engine)) as session:
            org, _ = await create_org(session, name="R", byok=True)
            cred = await store.create(
                session,
                org_id=org.id,
                provider="openai",
                values={"api_key": "sk-rotate-me-000000"},
                scope=CredentialScope.ORGANIZATION,
                actor="test",
            )
        await engine.dispose()
        return cred.id

    async def reopen(cred_id: str) -> str:
        engine = create_engine(settings.resolved_database_url)
        store = CredentialStore(Vault(master_key_provider_from_settings(settings)), load_catalog())
        async with create_session_factory(engine)() as session:
            cred = await session.get(Credential, cred_id)
            assert cred is not None
            value = (await store.open(session, cred))["api_key"].reveal()
        await engine.dispose()
        return value

    cred_id = asyncio.run(seal())
    rotated = json.loads(run(tmp_path, "keys", "rotate").stdout)
    assert rotated["new_version"] == rotated["previous_version"] + 1
    refused = run(tmp_path, "keys", "retire", str(rotated["previous_version"]), check=False)
    assert refused.returncode == 2 and "still used" in refused.stderr
    report = json.loads(run(tmp_path, "keys", "rewrap").stdout)
    assert report["rewrapped"] == 1 and report["failed_ids"] == []
    assert run(tmp_path, "keys", "retire", str(rotated["previous_version"])).returncode == 0
    assert asyncio.run(reopen(cred_id)) == "sk-rotate-me-000000"
    assert (tmp_path / "keyring.json").stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_serve_on_the_embedded_default_answers_health_and_creates_the_demo(tmp_path: Path) -> None:
    url_file = tmp_path / "server.url"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXROUTE_")}
    env["VOXROUTE_DATA_DIR"] = str(tmp_path / ".voxroute")
    proc = subprocess.Popen(
        [*VOXROUTE, "serve", *serve_args(url_file)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = start_and_wait(url_file, proc)
        demo = json.loads((tmp_path / ".voxroute" / "demo.json").read_text())
        assert (tmp_path / ".voxroute" / "demo.json").stat().st_mode & 0o077 == 0
        byok = httpx.get(
            f"{url}/api/v1/byok",
            headers={"Authorization": f"Bearer {demo['token']}"},
        )
        assert byok.status_code == 200 and byok.json()["byok_enabled"] is True
        docs = httpx.get(f"{url}/docs")
        assert docs.status_code == 200
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "voxroute call" in output and demo["token"] not in output
    assert f"voxroute listening on {url}" in output and not url.endswith(":0")


def test_serve_refuses_to_start_with_provider_keys_in_the_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXROUTE_")}
    env.update(VOXROUTE_DATA_DIR=str(tmp_path), OPENAI_API_KEY="sk-leaky-000000000")
    proc = subprocess.run(
        [*VOXROUTE, "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "OPENAI_API_KEY" in proc.stderr + proc.stdout
    assert "sk-leaky-000000000" not in proc.stderr + proc.stdout


def test_serve_on_a_port_in_use_fails_with_a_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXROUTE_")}
    env["VOXROUTE_DATA_DIR"] = str(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [*VOXROUTE, "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2
    assert f"voxroute: cannot listen on 127.0.0.1:{port}" in proc.stderr
