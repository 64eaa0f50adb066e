"""In-memory versioned key ring: the phase rules, and strict (de)serialization of its JSON.

Both shipped providers keep their versions in a ring; they differ only in what a version's
reference is (local: base64 key material; aws_kms: a KMS key id). Parsing is strict because
a keyring that is only half understood must refuse start-up, not guess.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from voxroute.errors import MasterKeyError
from voxroute.vault.master.base import KeyState, KeyVersion

RING_FORMAT = 1
_TOP_KEYS = {"voxroute_keyring", "kind", "id", "versions"}
_ENTRY_KEYS = {"version", "state", "created_at"}

RefValidator = Callable[[str], None]


class RingFormatError(MasterKeyError, ValueError):
    """The keyring JSON is not what voxroute wrote. Messages never quote key material."""

    code = "keyring_format_error"


class RingStateError(MasterKeyError, ValueError):
    """A phase transition that the rules forbid."""

    code = "keyring_state_error"


@dataclass(slots=True)
class RingEntry:
    """One master-key version; `ref` is None once the version is destroyed."""

    version: int
    state: KeyState
    created_at: str
    ref: str | None = field(repr=False)


@dataclass(slots=True)
class Ring:
    """A master key's versions; `add`, `promote` and `retire` enforce the phase rules."""

    kind: str
    ring_id: str
    entries: dict[int, RingEntry]

    @classmethod
    def new(cls, kind: str, first_ref: str) -> Ring:
        entry = RingEntry(1, KeyState.PRIMARY, _now(), first_ref)
        return cls(kind, f"kr_{secrets.token_hex(8)}", {1: entry})

    @property
    def primary(self) -> RingEntry:
        return next(e for e in self.entries.values() if e.state is KeyState.PRIMARY)

    def public_versions(self, *, show_ref: bool) -> tuple[KeyVersion, ...]:
        return tuple(
            KeyVersion(e.version, e.state, e.created_at, e.ref if show_ref else None)
            for e in sorted(self.entries.values(), key=lambda e: e.version)
        )

    def add(self, ref: str) -> int:
        version = max(self.entries) + 1
        self.entries[version] = RingEntry(version, KeyState.STAGED, _now(), ref)
        return version

    def promote(self, version: int) -> None:
        entry = self._entry(version)
        if entry.state is KeyState.PRIMARY:
            return
        if entry.state is KeyState.RETIRED:
            raise RingStateError(f"version {version} is retired and cannot be promoted")
        self.primary.state = KeyState.ACTIVE
        entry.state = KeyState.PRIMARY

    def retire(self, version: int, *, destroy: bool) -> None:
        entry = self._entry(version)
        if entry.state is KeyState.PRIMARY:
            raise RingStateError(f"version {version} is primary; promote another version first")
        entry.state = KeyState.RETIRED
        if destroy:
            entry.ref = None

    def _entry(self, version: int) -> RingEntry:
        try:
            return self.entries[version]
        except KeyError:
            raise RingStateError(f"unknown master key version {version}") from None

    def to_json(self, ref_field: str) -> dict[str, Any]:
        versions: list[dict[str, Any]] = []
        for e in sorted(self.entries.values(), key=lambda e: e.version):
            item: dict[str, Any] = {
                "version": e.version,
                "state": e.state.value,
                "created_at": e.created_at,
            }
            if e.ref is not None:
                item[ref_field] = e.ref
            versions.append(item)
        return {
            "voxroute_keyring": RING_FORMAT,
            "kind": self.kind,
            "id": self.ring_id,
            "versions": versions,
        }

    @classmethod
    def from_json(cls, data: object, kind: str, ref_field: str, validate: RefValidator) -> Ring:
        if not isinstance(data, dict) or set(data) != _TOP_KEYS:
            raise RingFormatError(f"has an unknown structure (expected keys {sorted(_TOP_KEYS)})")
        if data["voxroute_keyring"] != RING_FORMAT:
            raise RingFormatError("has an unsupported keyring format version")
        if data["kind"] != kind:
            raise RingFormatError(f"is a {data['kind']!r} keyring, expected {kind!r}")
        ring_id = data["id"]
        if not isinstance(ring_id, str) or not ring_id or len(ring_id) > 100:
            raise RingFormatError("has an invalid id")
        raw_versions = data["versions"]
        if not isinstance(raw_versions, list) or not raw_versions:
            raise RingFormatError("has no key versions")
        entries: dict[int, RingEntry] = {}
        for raw in raw_versions:
            entry = _parse_entry(raw, ref_field, validate)
            if entry.version in entries:
                raise RingFormatError(f"lists version {entry.version} twice")
            entries[entry.version] = entry
        primaries = [e for e in entries.values() if e.state is KeyState.PRIMARY]
        if len(primaries) != 1:
            raise RingFormatError("must have exactly one primary version")
        return cls(kind, ring_id, entries)


def _parse_entry(raw: object, ref_field: str, validate: RefValidator) -> RingEntry:
    if not isinstance(raw, dict) or not _ENTRY_KEYS <= set(raw) <= _ENTRY_KEYS | {ref_field}:
        raise RingFormatError("has a key version with an unknown structure")
    version = raw["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RingFormatError("has a key version whose number is not a positive integer")
    try:
        state = KeyState(raw["state"])
    except ValueError:
        raise RingFormatError(f"version {version} has an unknown state") from None
    created_at = raw["created_at"]
    if not isinstance(created_at, str):
        raise RingFormatError(f"version {version} has an invalid created_at")
    ref = raw.get(ref_field)
    if ref is None and state is not KeyState.RETIRED:
        raise RingFormatError(f"version {version} has no {ref_field}")
    if ref is not None:
        if not isinstance(ref, str):
            raise RingFormatError(f"version {version}: {ref_field} must be a string")
        try:
            validate(ref)
        except ValueError as exc:
            raise RingFormatError(f"version {version}: {exc}") from None
    return RingEntry(version, state, created_at, ref)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
