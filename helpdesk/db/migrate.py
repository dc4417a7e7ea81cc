"""Run the Alembic migrations from Python (`alembic upgrade head`).

The worker and the API both call `upgrade_database` when they start, so
two processes may migrate the same database at once. PostgreSQL serialises
them with an advisory lock; for a SQLite file a lock file beside the
database does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection, make_url

from helpdesk.db.engine import create_engine, sqlite_file

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux or macOS
    fcntl = None  # type: ignore[assignment]

# Key of the PostgreSQL advisory lock held while migrating ("helpdesk").
_PG_MIGRATION_LOCK = 0x68656C70

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

log = structlog.get_logger("helpdesk.db")


def alembic_config() -> Config:
    """Return an Alembic config for the packaged migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


async def upgrade_database(
    url: str, revision: str = "head"
) -> tuple[str | None, str | None]:
    """Upgrade the database at `url` to `revision` (the latest by default).

    Returns the revisions before and after; None before the first migration.
    """
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with _sqlite_file_lock(url), engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": _PG_MIGRATION_LOCK},
                )
            before, after = await connection.run_sync(_upgrade, revision)
            await connection.commit()
    finally:
        await engine.dispose()
    log.info(
        "db.migrated" if before != after else "db.up_to_date",
        database=make_url(url).render_as_string(hide_password=True),
        from_revision=before,
        revision=after,
    )
    return before, after


migrate = upgrade_database


def _upgrade(connection: Connection, revision: str) -> tuple[str | None, str | None]:
    """Upgrade on an open connection; return the revisions before and after."""
    before = MigrationContext.configure(connection).get_current_revision()
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    return before, MigrationContext.configure(connection).get_current_revision()


@contextlib.asynccontextmanager
async def _sqlite_file_lock(url: str) -> AsyncIterator[None]:
    path = sqlite_file(url)
    if path is None or fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".migrate.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        # flock blocks, so wait for it off the event loop.
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
