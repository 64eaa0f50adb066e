"""Shared machinery of the shipped providers: a ring of versions kept in a keyring file.

Subclasses only say how one version wraps and unwraps a data key. This class keeps the
in-memory ring in step with the file: before each wrap and unwrap it checks whether another
process rewrote the file (one `stat`, made on the event loop: the keyring is a local file),
so a promotion or retirement elsewhere is picked up before the next use.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

from voxroute.errors import MasterKeyError
from voxroute.vault.master.base import DEK_LEN, KeyVersion, MasterKeyProvider, WrapContext
from voxroute.vault.master.ring import Ring, RingStateError
from voxroute.vault.master.ringfile import FileStamp, RingFile


class RingBackedProvider(MasterKeyProvider):
    """A `MasterKeyProvider` whose versions live in a `RingFile`."""

    key_prefix: ClassVar[str]
    # Whether retiring forgets the version's reference (true when it is key material).
    destroy_on_retire: ClassVar[bool]
    # Whether `versions()` may show references (true when they are public ids).
    public_references: ClassVar[bool]

    def __init__(self, ring_file: RingFile, ring: Ring, stamp: FileStamp) -> None:
        self._file = ring_file
        self._ring = ring
        self._stamp = stamp
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self.key_id!r}, primary={self.current_version})"

    @property
    def key_id(self) -> str:
        return f"{self.key_prefix}:{self._ring.ring_id}"

    @property
    def current_version(self) -> int:
        return self._ring.primary.version

    def versions(self) -> tuple[KeyVersion, ...]:
        return self._ring.public_versions(show_ref=self.public_references)

    async def wrap(self, dek: bytes, context: WrapContext) -> tuple[int, bytes]:
        if len(dek) != DEK_LEN:
            raise ValueError("data keys are 32 bytes")
        await self._refresh_if_changed()
        entry = self._ring.primary
        if entry.ref is None:  # the ring parser refuses this; kept for the type checker
            raise MasterKeyError(f"master key {self.key_id} primary has no key")
        return entry.version, await self._wrap_with(entry.ref, entry.version, dek, context)

    async def unwrap(self, version: int, wrapped: bytes, context: WrapContext) -> bytes:
        await self._refresh_if_changed()
        entry = self._ring.entries.get(version)
        if entry is None:
            raise MasterKeyError(f"master key {self.key_id} has no version {version}")
        if not entry.state.can_unwrap or entry.ref is None:
            raise MasterKeyError(f"master key {self.key_id} version {version} is retired")
        return await self._unwrap_with(entry.ref, version, wrapped, context)

    async def add_version(self, key_ref: str | None = None) -> int:
        ref = await self._new_ref(key_ref)
        added: list[int] = []
        await self._update(lambda ring: added.append(ring.add(ref)))
        return added[0]

    async def promote(self, version: int) -> None:
        await self._update(lambda ring: ring.promote(version))

    async def retire(self, version: int) -> None:
        await self._update(lambda ring: ring.retire(version, destroy=self.destroy_on_retire))

    async def reload(self) -> None:
        async with self._lock:
            self._ring, self._stamp = await asyncio.to_thread(self._file.load)

    async def _refresh_if_changed(self) -> None:
        # A `stat` of a local file, on the loop: microseconds, where a worker-thread hop
        # costs a hundred and waits for a turn of a busy loop.
        stamp = self._file.stamp()
        if stamp != self._stamp:
            await self.reload()

    async def _update(self, change: Callable[[Ring], object]) -> None:
        def apply(ring: Ring) -> None:
            try:
                change(ring)
            except RingStateError as exc:
                raise MasterKeyError(f"master key {self.key_id}: {exc}") from None

        async with self._lock:
            self._ring, self._stamp = await asyncio.to_thread(self._file.update, apply)

    @abstractmethod
    async def _new_ref(self, key_ref: str | None) -> str:
        """The reference to store for a new version."""

    @abstractmethod
    async def _wrap_with(
        self, ref: str, version: int, dek: bytes, context: WrapContext
    ) -> bytes: ...

    @abstractmethod
    async def _unwrap_with(
        self, ref: str, version: int, wrapped: bytes, context: WrapContext
    ) -> bytes: ...
