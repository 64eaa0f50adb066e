"""Scan stored assistant stage configs for fields the API no longer accepts (migration 0005).

Stage configs once accepted any extra field, so a key put in the wrong place
(`"llm_config": {"provider": "openai", "api_key": "sk-…"}`) was stored in plaintext, shown to
members and carried by exports. Such a key is exposed already: moving it into the vault
would present it as safe (and start using a key no one configured as one). So the migration
refuses to run while any remains, naming the assistants and fields (never the values), until
the operator has revoked those keys and runs `voxroute migrate --scrub-plaintext-keys`,
which deletes them and audits each removal. Unknown fields that hold no key-shaped value
were never read by a call; they are dropped (and logged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voxroute.vault.redaction import looks_like_key, sanitize

STAGE_COLUMNS = ("stt_config", "llm_config", "tts_config")
# What a stored stage config may hold: the API's fields plus the vault bookkeeping.
KNOWN_FIELDS = frozenset({"provider", "model", "voice_id", "language", "byo_providers"})


def _key_shaped(value: Any) -> bool:
    if isinstance(value, str):
        return looks_like_key(value) or sanitize(value) != value
    if isinstance(value, dict):
        return any(_key_shaped(k) or _key_shaped(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_key_shaped(v) for v in value)
    return False


@dataclass
class StageScan:
    """What one stage config needs: the cleaned config and the paths found."""

    clean: dict[str, Any]
    dropped: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


def scan_stage(column: str, config: dict[str, Any] | None) -> StageScan:
    """Unknown fields of one stored stage config; key-shaped ones listed apart.

    A `voice` alias becomes `voice_id` (calls read either), unless `voice_id` is set.
    """
    config = dict(config or {})
    if "voice" in config and "voice_id" not in config and isinstance(config["voice"], str):
        config["voice_id"] = config.pop("voice")
    scan = StageScan(clean={k: v for k, v in config.items() if k in KNOWN_FIELDS})
    for name in sorted(set(config) - KNOWN_FIELDS):
        path = f"{column}.{name}"
        (scan.keys if _key_shaped(config[name]) or _key_shaped(name) else scan.dropped).append(path)
    return scan


class PlaintextKeysFound(RuntimeError):
    """Stage configs hold key-shaped values in plaintext; the operator must act first."""

    def __init__(self, findings: dict[str, list[str]]) -> None:
        listed = "; ".join(f"{aid}: {', '.join(paths)}" for aid, paths in sorted(findings.items()))
        super().__init__(
            f"{len(findings)} assistant(s) hold key-shaped values in plaintext stage-config "
            f"fields ({listed}). They were readable by members and in exports: revoke those "
            "keys at the provider, then run `voxroute migrate --scrub-plaintext-keys` to "
            "delete them (each removal is audited). Values are not shown here."
        )
        self.findings = findings
