"""Migrations create the read model on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from helpdesk.db import create_engine, upgrade_database
from helpdesk.db.models import Base

EXPECTED_TABLES = {
    "tickets",
    "ticket_events",
    "specialists",
    "notifications",
    "notification_attempts",
    "routing_state",
    "external_refs",
    "assignment_decisions",
    "idempotency_keys",
    "alembic_version",
}


async def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(
                await connection.run_sync(lambda c: inspect(c).get_table_names())
            )
    finally:
        await engine.dispose()


async def test_migrations_create_all_tables(database_url: str) -> None:
    await upgrade_database(database_url)

    assert await _table_names(database_url) == EXPECTED_TABLES


async def test_migrated_schema_matches_models(database_url: str) -> None:
    await upgrade_database(database_url)

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
            version = await connection.scalar(
                text("SELECT version_num FROM alembic_version")
            )
    finally:
        await engine.dispose()

    assert differences == []
    assert version == "0002"


async def test_upgrade_twice_changes_nothing(database_url: str) -> None:
    await upgrade_database(database_url)
    await upgrade_database(database_url)

    assert await _table_names(database_url) == EXPECTED_TABLES


async def test_concurrent_upgrades_do_not_collide(database_url: str) -> None:
    # The worker and the API migrate on start, possibly at the same moment.
    await asyncio.gather(*(upgrade_database(database_url) for _ in range(4)))

    assert await _table_names(database_url) == EXPECTED_TABLES


async def test_sqlite_file_gets_directory_wal_and_busy_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nested" / "dir" / "helpdesk.db"
    url = f"sqlite+aiosqlite:///{path}"

    await upgrade_database(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            journal_mode = await connection.scalar(text("PRAGMA journal_mode"))
            busy_timeout = await connection.scalar(text("PRAGMA busy_timeout"))
    finally:
        await engine.dispose()

    assert path.exists()
    assert journal_mode == "wal"
    assert busy_timeout >= 1000
