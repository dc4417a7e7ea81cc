"""Dialect helpers shared by the repository modules."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """Return an INSERT for `table` that supports ON CONFLICT on this database."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect {name!r}: use SQLite or PostgreSQL")


async def execute_for_rowcount(session: AsyncSession, statement: Any) -> int:
    """Execute a DML statement and return how many rows it changed."""
    result = cast(CursorResult[Any], await session.execute(statement))
    return max(result.rowcount, 0)
