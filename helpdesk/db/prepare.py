"""Bring a database up to date before a process uses it."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from helpdesk.db.engine import create_engine, session_factory
from helpdesk.db.migrate import upgrade_database
from helpdesk.db.repository import insert_missing_specialists
from helpdesk.roster import load_roster
from helpdesk.settings import Settings

log = structlog.get_logger("helpdesk.db")


async def seed_roster(settings: Settings, engine: AsyncEngine) -> list[str]:
    """Insert the roster's specialists that are not stored yet; return their ids.

    The roster is `settings.roster_file`, or the built-in roster.yaml.
    Stored specialists keep every change made through the API.
    """
    roster = load_roster(settings.roster_file)
    async with session_factory(engine).begin() as session:
        inserted = await insert_missing_specialists(session, roster.specialists)
    log.info(
        "db.roster.seeded",
        roster_size=len(roster.specialists),
        inserted=len(inserted),
    )
    return inserted


async def prepare_database(
    settings: Settings, engine: AsyncEngine | None = None
) -> list[str]:
    """Migrate `settings.database_url` to the latest schema and seed the roster.

    Returns the ids of the specialists inserted by this call. Safe to run
    on every start and from several processes at once.
    """
    await upgrade_database(settings.database_url)
    if engine is not None:
        return await seed_roster(settings, engine)
    own_engine = create_engine(settings.database_url)
    try:
        return await seed_roster(settings, own_engine)
    finally:
        await own_engine.dispose()
