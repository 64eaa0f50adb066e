from __future__ import annotations

import pytest

from voxroute.errors import SignatureInvalid
from voxroute.telephony.twilio.signature import (
    compute_signature,
    public_request_url,
    validate_signature,
)
from voxroute.vault.secret import Secret

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_signature_matches_twilios_known_answer_vector() -> None:
    assert compute_signature("12345", URL, PARAMS) == EXPECTED
    validate_signature(Secret("12345"), URL, PARAMS, EXPECTED)


def test_signature_accepts_list_of_pairs_as_sent_in_a_form() -> None:
    validate_signature(Secret("12345"), URL, list(PARAMS.items()), EXPECTED)


@pytest.mark.parametrize(
    "url",
    [
        "https://mycompany.com:443/myapp.php?foo=1&bar=2",
        "https://mycompany.com/myapp.php?foo=1&bar=2",
    ],
)
def test_signature_tolerates_the_default_port_added_or_removed(url: str) -> None:
    signed_with_port = compute_signature(
        "12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", PARAMS
    )
    validate_signature(Secret("12345"), url, PARAMS, signed_with_port)
    validate_signature(Secret("12345"), url, PARAMS, EXPECTED)


def test_signature_rejects_a_tampered_param() -> None:
    with pytest.raises(SignatureInvalid):
        validate_signature(Secret("12345"), URL, {**PARAMS, "To": "+18005550000"}, EXPECTED)


def test_signature_rejects_another_tenants_token() -> None:
    with pytest.raises(SignatureInvalid):
        validate_signature(Secret("54321"), URL, PARAMS, EXPECTED)


@pytest.mark.parametrize("signature", [None, ""])
def test_signature_rejects_a_missing_header(signature: str | None) -> None:
    with pytest.raises(SignatureInvalid):
        validate_signature(Secret("12345"), URL, PARAMS, signature)


def test_public_request_url_uses_the_configured_origin_not_the_socket() -> None:
    assert (
        public_request_url("https://voice.example.com/", "/telephony/twilio/voice", "a=1")
        == "https://voice.example.com/telephony/twilio/voice?a=1"
    )
