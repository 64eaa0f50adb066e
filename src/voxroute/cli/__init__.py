"""The `voxroute` command: serve, migrate, emulators, admin, keys, call, loadtest."""

from voxroute.cli.main import main

__all__ = ["main"]
