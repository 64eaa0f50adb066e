"""One tenant's "keys" never change what another tenant's requests do.

The log-masking registry is process-wide; the audit guard used to compare every payload
against it. A tenant that saved "organization" as a key made every later key, credential and
number creation of every org answer 500, and masked the word in everyone's error messages.
"""

from __future__ import annotations

import secrets

import pytest

from tests.utils.api import Api
from voxroute.audit import record
from voxroute.vault.redaction import MASK, looks_like_key, redact
from voxroute.vault.secret import Secret

COMMON_WORDS = ("organization", "telephony", "credential.created", "fallback_to_managed")


def _twilio(token: str | None = None) -> dict[str, str]:
    return {
        "account_sid": "AC" + secrets.token_hex(16),
        "auth_token": token or secrets.token_hex(16),
    }


async def test_common_words_are_refused_as_keys_and_auth_tokens(api: Api) -> None:
    org = await api.new_org("A")
    for word in COMMON_WORDS:
        byok = await org.owner.post("/byok", json={"provider": "openai", "api_key": word})
        assert byok.status_code == 422, byok.text
        assert (
            "does not look like a key" in byok.json()["error"]["message"]
            or "format" in (byok.json()["error"]["message"])
        )
        cred = await org.owner.post(
            "/credentials", json={"provider": "deepgram", "fields": {"api_key": word}}
        )
        assert cred.status_code == 422, cred.text
        number = await org.owner.post(
            "/phone-numbers", json={"number": "+15551230001", "telephony": _twilio(word)}
        )
        assert number.status_code == 422, number.text
    assert (await org.owner.get("/credentials")).json() == []


@pytest.mark.parametrize("word", COMMON_WORDS)
def test_words_are_never_registered_for_masking(word: str) -> None:
    Secret(word)
    assert not looks_like_key(word)
    assert redact(f"the {word} said {word}") == f"the {word} said {word}"


async def test_another_orgs_requests_are_unaffected_by_words_seen_as_secrets(api: Api) -> None:
    """Even when a word reached the process as a secret (an old row, a managed key), other
    tenants can still create keys, credentials and numbers, and read their errors whole."""
    for word in COMMON_WORDS:
        Secret(word)
    org_b = await api.new_org("B")
    byok = await org_b.owner.post(
        "/byok", json={"provider": "openai", "api_key": "sk-org-b-" + secrets.token_hex(12)}
    )
    assert byok.status_code == 200, byok.text
    cred = await org_b.owner.post(
        "/credentials",
        json={"provider": "deepgram", "fields": {"api_key": secrets.token_hex(20)}},
    )
    assert cred.status_code == 201, cred.text
    number = await org_b.owner.post(
        "/phone-numbers", json={"number": "+15551230002", "telephony": _twilio()}
    )
    assert number.status_code == 201, number.text
    no_byok = await api.new_org("C", byok=False)
    refused = await no_byok.owner.post(
        "/byok", json={"provider": "openai", "api_key": "sk-org-c-" + secrets.token_hex(12)}
    )
    assert refused.status_code == 403
    message = refused.json()["error"]["message"]
    assert "organization" in message and MASK not in message


def test_the_audit_guard_checks_the_operations_own_secrets() -> None:
    class _Session:
        def add(self, _: object) -> None:
            pass

    key = "sk-live-" + secrets.token_hex(16)
    Secret(key)  # registered process-wide: another operation's payload may still mention it
    record(_Session(), action="x", org_id=None, data={"note": key})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret material"):
        record(
            _Session(),  # type: ignore[arg-type]
            action="x",
            org_id=None,
            data={"note": f"prefix {key}"},
            secrets=[key],
        )
