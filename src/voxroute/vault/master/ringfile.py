"""Keyring file I/O: owner-only permissions, atomic writes, cross-process locking.

* Created 0600 whatever the umask (the mode is set with `fchmod` after `open`).
* First-run creation uses `link()`, which fails if another process won the race, so two
  processes starting together cannot each invent a different key.
* Updates take an exclusive `flock` on a sidecar lock file, re-read the file, apply the change
  and `replace()` it, so concurrent rotations never lose a version.
* A file readable or writable by group or others, or not a regular file, refuses start-up.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from voxroute.errors import MasterKeyError
from voxroute.vault.master.ring import RefValidator, Ring, RingFormatError

_MODE = 0o600
_MAX_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class FileStamp:
    """Identity of one written version of the file; a change means another process wrote it."""

    inode: int
    mtime_ns: int
    size: int


class RingFile:
    """One keyring JSON file holding a `Ring` of a given kind."""

    def __init__(self, path: Path, *, kind: str, ref_field: str, validate: RefValidator) -> None:
        self.path = path
        self._kind = kind
        self._ref_field = ref_field
        self._validate = validate

    def load_or_create(self, first_ref: Callable[[], str]) -> tuple[Ring, FileStamp]:
        """Load the ring, creating it with one primary version on first run."""
        if not self.path.exists():
            self._create(Ring.new(self._kind, first_ref()))
        return self.load()

    def load(self) -> tuple[Ring, FileStamp]:
        """Read and validate the file; `MasterKeyError` with a clear reason otherwise."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise self._refuse("does not exist") from None
        except OSError as exc:
            raise self._refuse(f"cannot be opened ({exc.strerror})") from None
        try:
            info = os.fstat(fd)
            self._check_mode(info)
            if info.st_size > _MAX_SIZE:
                raise self._refuse("is too large to be a keyring")
            raw = os.read(fd, _MAX_SIZE + 1)
        finally:
            os.close(fd)
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._refuse("is not valid JSON") from None
        try:
            ring = Ring.from_json(data, self._kind, self._ref_field, self._validate)
        except RingFormatError as exc:
            raise self._refuse(str(exc)) from None
        return ring, FileStamp(info.st_ino, info.st_mtime_ns, info.st_size)

    def stamp(self) -> FileStamp | None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        return FileStamp(info.st_ino, info.st_mtime_ns, info.st_size)

    def update(self, change: Callable[[Ring], None]) -> tuple[Ring, FileStamp]:
        """Read-modify-write under an exclusive lock; returns the ring as written."""
        with self._locked():
            ring, _ = self.load()
            change(ring)
            tmp = self._write_tmp(ring)
            os.replace(tmp, self.path)
            self._fsync_dir()
            return self.load()

    def _create(self, ring: Ring) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self._write_tmp(ring)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            pass  # another process created it first; we load theirs
        finally:
            tmp.unlink()
        self._fsync_dir()

    def _write_tmp(self, ring: Ring) -> Path:
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        payload = json.dumps(ring.to_json(self._ref_field), indent=2).encode() + b"\n"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _MODE)
        try:
            os.fchmod(fd, _MODE)
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, _MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _fsync_dir(self) -> None:
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _check_mode(self, info: os.stat_result) -> None:
        if not stat.S_ISREG(info.st_mode):
            raise self._refuse("is not a regular file")
        loose = stat.S_IMODE(info.st_mode) & 0o077
        if loose:
            raise self._refuse(
                f"has mode {oct(stat.S_IMODE(info.st_mode))}, which lets group or others read "
                f"or write it; run `chmod 600 {self.path}`"
            )

    def _refuse(self, reason: str) -> MasterKeyError:
        return MasterKeyError(f"refusing to start: master keyring {self.path} {reason}")
