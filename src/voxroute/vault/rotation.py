"""Master-key rotation, step 1: add and promote a master-key version (keyring only).

New seals use the new version at once; old rows stay readable because the old version is
still decrypt-only. Re-wrapping the stored rows and retiring the old version are the
credential store's job (`voxroute.credentials.rotation`).
"""

from __future__ import annotations

from dataclasses import dataclass

from voxroute.vault.master.base import MasterKeyProvider

__all__ = ["RotationResult", "rotate_master_key"]


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What `rotate_master_key` did, for the caller's audit event."""

    master_key_id: str
    previous_version: int
    new_version: int
    promoted: bool


async def rotate_master_key(
    provider: MasterKeyProvider, *, key_ref: str | None = None, promote: bool = True
) -> RotationResult:
    """Add a master-key version and (by default) promote it.

    With `promote=False` the version is only staged: deploy that to every node first, then
    `provider.promote(version)`, the careful multi-node rollout. (The shipped providers also
    reload on an unknown version, so promoting at once is safe for them.)
    """
    previous = provider.current_version
    version = await provider.add_version(key_ref)
    if promote:
        await provider.promote(version)
    return RotationResult(provider.key_id, previous, version, promote)
