"""The pure key-resolution rules (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from voxroute.credentials.status import CredentialStatus
from voxroute.errors import KeyNotFound
from voxroute.routing.policy import Candidate, decide

NOW = datetime(2026, 11, 23, tzinfo=UTC)
MANAGED = Candidate(source="managed", credential_id=None, version=None)


def key(source: str, cid: str, **kw: object) -> Candidate:
    return Candidate(source=source, credential_id=cid, version=1, **kw)  # type: ignore[arg-type]


def run(**kw: object) -> object:
    args: dict[str, object] = dict(
        stage="llm",
        provider="openai",
        assistant_keys=[],
        org_keys=[],
        managed=MANAGED,
        policy="strict",
        now=NOW,
    )
    args.update(kw)
    return decide(**args)  # type: ignore[arg-type]


def test_assistant_key_beats_org_and_managed() -> None:
    d = run(assistant_keys=[key("assistant", "a")], org_keys=[key("organization", "o")])
    assert d.source == "assistant" and d.candidate.credential_id == "a"  # type: ignore[attr-defined]


def test_org_key_beats_managed() -> None:
    d = run(org_keys=[key("organization", "o")])
    assert d.source == "organization"  # type: ignore[attr-defined]


def test_managed_key_serves_when_no_byo_key_exists() -> None:
    assert run().source == "managed"  # type: ignore[attr-defined]


def test_no_key_anywhere_names_the_stage_and_provider() -> None:
    with pytest.raises(KeyNotFound, match="llm: no key configured for openai"):
        run(managed=None)


def test_pool_prefers_highest_priority_and_skips_cooling_keys() -> None:
    cooling = key("organization", "hi", priority=10, cooldown_until=NOW + timedelta(seconds=30))
    d = run(org_keys=[key("organization", "lo", priority=1), cooling])
    assert d.candidate.credential_id == "lo"  # type: ignore[attr-defined]
    expired = key("organization", "hi", priority=10, cooldown_until=NOW - timedelta(seconds=1))
    assert (
        run(org_keys=[key("organization", "lo", priority=1), expired]).candidate.credential_id
        == "hi"
    )  # type: ignore[attr-defined]


def test_strict_never_switches_an_invalid_byo_key_to_managed() -> None:
    with pytest.raises(KeyNotFound, match="invalid or disabled"):
        run(assistant_keys=[key("assistant", "a", status=CredentialStatus.INVALID)])


def test_fallback_to_managed_only_for_rate_limited_keys() -> None:
    limited = key("organization", "o", cooldown_until=NOW + timedelta(seconds=30))
    d = run(org_keys=[limited], policy="fallback_to_managed")
    assert d.source == "managed_fallback" and "rate-limited" in d.fallback_reason  # type: ignore[attr-defined]
    with pytest.raises(KeyNotFound, match="rate-limited"):
        run(org_keys=[limited], policy="strict")
    with pytest.raises(KeyNotFound):
        run(
            org_keys=[key("organization", "o", status=CredentialStatus.INVALID)],
            policy="fallback_to_managed",
        )
