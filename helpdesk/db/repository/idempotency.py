"""Idempotency keys of API requests: claim, look up, repoint and release."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.db.models import IdempotencyKeyRow
from helpdesk.db.repository._sql import dialect_insert, execute_for_rowcount


class IdempotencyRecord(BaseModel):
    """The request a key was first sent with, and its ticket."""

    scope: str
    key: str
    request_sha256: str
    ticket_id: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: IdempotencyKeyRow) -> IdempotencyRecord:
        return cls(
            scope=row.scope,
            key=row.key,
            request_sha256=row.request_sha256,
            ticket_id=row.ticket_id,
            created_at=row.created_at,
        )


async def claim_idempotency_key(
    session: AsyncSession,
    *,
    scope: str,
    key: str,
    request_sha256: str,
    ticket_id: str,
    now: datetime,
    retention: timedelta,
) -> IdempotencyRecord:
    """Store the key for this request unless it is stored; return the stored one.

    The caller owns the key when the returned record has its `ticket_id` and
    `request_sha256`. Keys older than `retention` are deleted first, so an
    expired key counts as new. The primary key (scope, key) makes the claim
    atomic between processes; it is durable once the caller commits.
    """
    await session.execute(
        delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < now - retention)
    )
    await session.execute(
        dialect_insert(session, IdempotencyKeyRow)
        .values(
            scope=scope,
            key=key,
            request_sha256=request_sha256,
            ticket_id=ticket_id,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["scope", "key"])
    )
    record = await get_idempotency_key(session, scope=scope, key=key)
    assert record is not None, "the row was inserted or already there"
    return record


async def get_idempotency_key(
    session: AsyncSession, *, scope: str, key: str
) -> IdempotencyRecord | None:
    row = await session.scalar(
        select(IdempotencyKeyRow).where(
            IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key
        )
    )
    return IdempotencyRecord.from_row(row) if row else None


async def repoint_idempotency_key(
    session: AsyncSession, *, scope: str, key: str, old_ticket_id: str, ticket_id: str
) -> bool:
    """Point the key at another ticket if it still points at `old_ticket_id`.

    An intake that ends on another ticket than the one it claimed the key
    for (a duplicate report, a taken id) records the ticket it returned.
    """
    statement = (
        update(IdempotencyKeyRow)
        .where(
            IdempotencyKeyRow.scope == scope,
            IdempotencyKeyRow.key == key,
            IdempotencyKeyRow.ticket_id == old_ticket_id,
        )
        .values(ticket_id=ticket_id)
    )
    return bool(await execute_for_rowcount(session, statement))


async def release_idempotency_key(
    session: AsyncSession,
    *,
    scope: str,
    key: str,
    request_sha256: str,
    ticket_id: str,
) -> bool:
    """Delete the key if it is still this request's; return whether it was."""
    statement = delete(IdempotencyKeyRow).where(
        IdempotencyKeyRow.scope == scope,
        IdempotencyKeyRow.key == key,
        IdempotencyKeyRow.request_sha256 == request_sha256,
        IdempotencyKeyRow.ticket_id == ticket_id,
    )
    return bool(await execute_for_rowcount(session, statement))
