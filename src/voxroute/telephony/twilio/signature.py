"""X-Twilio-Signature: HMAC-SHA1 over the public URL plus the sorted POST params."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

from voxroute.errors import SignatureInvalid
from voxroute.vault.secret import Secret

__all__ = ["Params", "compute_signature", "public_request_url", "validate_signature"]

# A mapping of name -> value, or name -> every value of a repeated field.
Params = Mapping[str, str | list[str]]


class _MultiParams(dict[str, list[str]]):
    """What twilio's validator reads repeated fields from (`getlist`)."""

    def getlist(self, key: str) -> list[str]:
        return self[key]


def _as_multi(params: Params | Iterable[tuple[str, str]]) -> _MultiParams:
    multi = _MultiParams()
    items = params.items() if isinstance(params, Mapping) else params
    for name, value in items:
        values = value if isinstance(value, list) else [value]
        multi.setdefault(name, []).extend(values)
    return multi


def compute_signature(auth_token: str, url: str, params: Params) -> str:
    """The signature Twilio sends for a form POST to `url` (used by the softphone)."""
    return str(RequestValidator(auth_token).compute_signature(url, _as_multi(params)))


def validate_signature(
    auth_token: Secret,
    url: str,
    params: Params | Iterable[tuple[str, str]],
    signature: str | None,
) -> None:
    """Raise SignatureInvalid unless `signature` matches.

    Tolerates default ports (:443/:80) being added or removed, as Twilio's own validator does.
    """
    if not signature:
        raise SignatureInvalid("missing X-Twilio-Signature")
    validator = RequestValidator(auth_token.reveal())
    if not validator.validate(url, _as_multi(params), signature):
        raise SignatureInvalid("X-Twilio-Signature does not match")


def public_request_url(public_url: str, path: str, query: str = "") -> str:
    """The URL exactly as Twilio requested it: configured public origin + path + query.

    Behind a proxy the socket's URL differs from what Twilio signed, so the origin always
    comes from settings (`public_url`), never from Host headers.
    """
    origin = urlsplit(public_url)
    base = f"{origin.scheme}://{origin.netloc}{origin.path.rstrip('/')}{path}"
    return f"{base}?{query}" if query else base
