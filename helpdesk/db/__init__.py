"""The read model: engine, ORM models, migrations and the repository."""

from helpdesk.db.engine import create_engine, session_factory, sqlite_file
from helpdesk.db.migrate import migrate, upgrade_database
from helpdesk.db.prepare import prepare_database, seed_roster

__all__ = [
    "create_engine",
    "migrate",
    "prepare_database",
    "seed_roster",
    "session_factory",
    "sqlite_file",
    "upgrade_database",
]
