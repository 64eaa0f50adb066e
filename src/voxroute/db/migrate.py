"""Run Alembic migrations programmatically (the CLI, the server and the tests use this)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from voxroute.package_data import package_path

MIGRATIONS = package_path("voxroute.db", "migrations")


def alembic_config(url: str = "") -> Config:
    """An Alembic config for the packaged migrations, with no alembic.ini to find on disk."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(
    engine: AsyncEngine, revision: str = "head", *, scrub_plaintext_keys: bool = False
) -> None:
    """Bring the schema to `revision` on an existing engine.

    `scrub_plaintext_keys`: let migration 0005 delete key-shaped values found in stage
    configs (see `voxroute.db.stage_config_scan`); without it that migration refuses.
    """

    def _upgrade(connection: object) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        config.attributes["scrub_plaintext_keys"] = scrub_plaintext_keys
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
