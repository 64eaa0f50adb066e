"""Data files shipped inside the package, found through `importlib.resources`.

Nothing is located relative to a source checkout: an installed wheel carries the price list,
the provider catalog, the migrations, the web assets and the softphone clips as package data.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from voxroute.errors import ConfigError

__all__ = ["package_path"]


def package_path(package: str, *parts: str) -> Path:
    """A file or folder shipped in `package`, as a path on disk.

    Alembic and `FileResponse` need a real path. A wheel installed by pip and a source checkout
    both keep package data on disk; a zipped import does not, and is refused clearly.
    """
    target = resources.files(package)
    for part in parts:
        target = target.joinpath(part)
    if not isinstance(target, Path):
        where = "/".join((package, *parts))
        raise ConfigError(f"package data {where} is not on disk (zipped installs are unsupported)")
    return target
