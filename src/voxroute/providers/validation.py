"""The "Check status" of a stored credential: run the provider's cheap probe, say what it means.

Four outcomes must stay distinguishable for an organization owner: the key works
(``ok``), the provider refuses it (``invalid``: revoked, mistyped, or an Azure key used in
another region), or the check could not decide (``error``: provider down, rate-limited,
out of quota). Messages name the provider and the reason, never the key: they are built
from fixed words and short error codes, then scrubbed of the secret values and of every
registered secret (`voxroute.vault.redaction`). Rate limiting of checks belongs to the
caller (API layer), so this is not a free oracle for stolen keys.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from voxroute.errors import InvalidInput
from voxroute.providers.catalog import ProviderSpec, load_catalog
from voxroute.providers.errors import ErrorCategory, classify_status
from voxroute.providers.probes import PROBES, Probe
from voxroute.vault.redaction import redact
from voxroute.vault.secret import Secret

__all__ = ["CheckResult", "CheckStatus", "check_credential"]

logger = logging.getLogger(__name__)

CheckStatus = Literal["ok", "invalid", "error"]
DEFAULT_TIMEOUT_S = 5.0
_MAX_BODY = 16 * 1024
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{1,63}")
# Where providers put a machine-readable error code in a JSON error body.
_CODE_PATHS: tuple[tuple[str, ...], ...] = (
    ("error", "code"),
    ("error", "type"),
    ("detail", "status"),
    ("err_code",),
    ("name",),
    ("error_code",),
    ("code",),
    ("error",),
    ("status",),
)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of one credential check; ``message`` is safe to store and show."""

    status: CheckStatus
    message: str
    category: ErrorCategory | None = None
    http_status: int | None = None


async def check_credential(
    provider: str,
    secrets: Mapping[str, Secret],
    public: Mapping[str, str],
    *,
    base_url: str | None,
    session: aiohttp.ClientSession,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> CheckResult:
    """Run ``provider``'s probe with these credential fields and classify the answer.

    ``base_url`` overrides the provider host (an emulator); ``None`` is the real provider.
    Raises `InvalidInput` only for an unknown provider; everything else is a result.
    """
    spec = load_catalog().get(provider)
    probe = PROBES.get(provider)
    if probe is None:
        raise InvalidInput(f"no credential check for provider '{provider}'")
    missing = [f for f in spec.secret_fields if f not in secrets or not secrets[f].reveal()]
    missing += [f for f in spec.public_fields if not public.get(f)]
    if missing:
        return CheckResult("invalid", f"{spec.name} credential is missing {', '.join(missing)}")
    values = {name: secrets[name].reveal() for name in spec.secret_fields}
    try:
        result = await _run(spec, probe, values, public, base_url, session, timeout_s)
    except InvalidInput as exc:  # e.g. a malformed Azure region
        result = CheckResult("invalid", f"{spec.name} credential: {exc.message}")
    result = CheckResult(
        result.status, _scrub(result.message, values), result.category, result.http_status
    )
    logger.info("credential check provider=%s status=%s", provider, result.status)
    return result


async def _run(
    spec: ProviderSpec,
    probe: Probe,
    values: dict[str, str],
    public: Mapping[str, str],
    base_url: str | None,
    session: aiohttp.ClientSession,
    timeout_s: float,
) -> CheckResult:
    method, _, path = spec.probe.partition(" ")
    url = probe.url(path, base_url, public)
    headers = {**probe.headers(values), **probe.extra_headers}
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            data=b"" if method == "POST" else None,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            body = await response.content.read(_MAX_BODY)
            status = response.status
    except TimeoutError:
        return _unreachable(spec, f"no answer within {timeout_s:g} s")
    except aiohttp.ClientConnectorDNSError:
        return _unreachable(spec, "DNS lookup failed (unknown host or region)")
    except aiohttp.ClientConnectorError as exc:
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        return _unreachable(spec, "connection refused" if refused else "cannot connect")
    except aiohttp.ClientError as exc:
        return _unreachable(spec, type(exc).__name__)
    return _interpret(spec, probe, status, _error_code(body), public)


def _unreachable(spec: ProviderSpec, reason: str) -> CheckResult:
    return CheckResult("error", f"{spec.name} unreachable: {reason}", ErrorCategory.CONNECTIVITY)


def _interpret(
    spec: ProviderSpec,
    probe: Probe,
    status: int,
    code: str | None,
    public: Mapping[str, str],
) -> CheckResult:
    name = spec.name
    label = f"{status} {code}" if code else str(status)
    if 200 <= status < 300:
        return CheckResult("ok", f"{name} key valid", http_status=status)
    if code and (status, code) in probe.restricted_ok:
        return CheckResult("ok", f"{name} key valid but restricted ({code})", http_status=status)
    category = classify_status(status, code)
    if status in probe.bad_key_statuses:
        category = ErrorCategory.AUTHENTICATION
    if category in (ErrorCategory.AUTHENTICATION, ErrorCategory.AUTHORIZATION):
        if probe.region_scoped:
            region = public.get("region", "")
            message = f"{name} key invalid or wrong region ({region})"
        else:
            message = f"{name} key rejected ({label})"
        return CheckResult("invalid", message, category, status)
    words = {
        ErrorCategory.QUOTA: "quota exhausted",
        ErrorCategory.RATE_LIMIT: "rate-limited",
        ErrorCategory.SERVER: "unavailable",
    }.get(category, "check failed")
    return CheckResult("error", f"{name} {words} ({label})", category, status)


def _error_code(body: bytes) -> str | None:
    """A short machine-readable code from a JSON error body, if there is one."""
    try:
        data: Any = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None
    for path in _CODE_PATHS:
        node = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str) and _CODE.fullmatch(node):
            return node
    return None


def _scrub(message: str, values: Mapping[str, str]) -> str:
    for value in values.values():
        if value:
            message = message.replace(value, "[REDACTED]")
    return redact(message)
