"""Notifications and their delivery attempts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.contracts import NotificationRequest
from helpdesk.db.models import NotificationAttemptRow, NotificationRow, utcnow
from helpdesk.db.repository._sql import dialect_insert

# Values of notifications.status.
PENDING = "pending"
SENT = "sent"
FAILED = "failed"
REJECTED = "rejected"
UNDELIVERABLE = "undeliverable"

# Values of notification_attempts.outcome.
OUTCOME_SENT = "sent"
OUTCOME_FAILED = "failed"
OUTCOME_REJECTED = "rejected"


class NotificationAttemptRecord(BaseModel):
    attempt: int
    channel: str
    outcome: str
    http_status: int | None
    error: str | None
    started_at: datetime
    finished_at: datetime


class NotificationRecord(BaseModel):
    id: str
    ticket_id: str
    recipient: str
    kind: str
    subject: str
    priority: str
    channel: str
    status: str
    recipients: list[str]
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    attempt_log: list[NotificationAttemptRecord] = []


def _to_record(
    row: NotificationRow, attempts: list[NotificationAttemptRow] | None = None
) -> NotificationRecord:
    return NotificationRecord(
        id=row.id,
        ticket_id=row.ticket_id,
        recipient=row.recipient,
        kind=row.kind,
        subject=row.subject,
        priority=row.priority,
        channel=row.channel,
        status=row.status,
        recipients=row.recipients,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
        attempt_log=[
            NotificationAttemptRecord(
                attempt=attempt.attempt,
                channel=attempt.channel,
                outcome=attempt.outcome,
                http_status=attempt.http_status,
                error=attempt.error,
                started_at=attempt.started_at,
                finished_at=attempt.finished_at,
            )
            for attempt in attempts or []
        ],
    )


async def register_notification(
    session: AsyncSession, request: NotificationRequest, *, channel: str
) -> NotificationRecord:
    """Store the notification as pending unless its id is known; return the row."""
    now = utcnow()
    await session.execute(
        dialect_insert(session, NotificationRow)
        .values(
            id=request.notification_id,
            ticket_id=request.ticket_id,
            recipient=request.recipient,
            kind=request.kind,
            subject=request.subject[:300],
            priority=request.priority.value,
            channel=channel,
            status=PENDING,
            recipients=[],
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    record = await get_notification(session, request.notification_id)
    assert record is not None
    return record


async def get_notification(
    session: AsyncSession, notification_id: str
) -> NotificationRecord | None:
    row = await session.get(NotificationRow, notification_id, populate_existing=True)
    return _to_record(row) if row else None


async def record_attempt(
    session: AsyncSession,
    notification_id: str,
    *,
    channel: str,
    outcome: str,
    status: str,
    recipients: list[str],
    started_at: datetime,
    http_status: int | None = None,
    error: str | None = None,
) -> int:
    """Append a delivery attempt and set the notification's status.

    Returns the attempt number, counted from 1 per notification. The
    statement that numbers the attempt is also the transaction's first
    write, so SQLite takes its write lock before anything is read.
    """
    now = utcnow()
    number = await session.scalar(
        update(NotificationRow)
        .where(NotificationRow.id == notification_id)
        .values(
            attempts=NotificationRow.attempts + 1,
            status=status,
            channel=channel,
            recipients=recipients,
            last_error=error,
            updated_at=now,
            sent_at=now if status == SENT else NotificationRow.sent_at,
        )
        .returning(NotificationRow.attempts)
    )
    if number is None:
        raise LookupError(f"notification {notification_id!r} not found")
    session.add(
        NotificationAttemptRow(
            notification_id=notification_id,
            attempt=number,
            channel=channel,
            outcome=outcome,
            http_status=http_status,
            error=error,
            started_at=started_at,
            finished_at=now,
        )
    )
    await session.flush()
    return number


async def mark_undeliverable(
    session: AsyncSession, notification_id: str, *, reason: str
) -> None:
    """Record that nobody could receive the notification; no attempt is made."""
    row = await session.get(NotificationRow, notification_id)
    if row is None:
        raise LookupError(f"notification {notification_id!r} not found")
    row.status = UNDELIVERABLE
    row.last_error = reason
    row.updated_at = utcnow()
    await session.flush()


async def list_notifications(
    session: AsyncSession, ticket_id: str
) -> list[NotificationRecord]:
    """Return a ticket's notifications, oldest first, each with its attempts."""
    rows = list(
        await session.scalars(
            select(NotificationRow)
            .where(NotificationRow.ticket_id == ticket_id)
            .order_by(NotificationRow.created_at, NotificationRow.id)
        )
    )
    if not rows:
        return []
    attempts = await session.scalars(
        select(NotificationAttemptRow)
        .where(NotificationAttemptRow.notification_id.in_([row.id for row in rows]))
        .order_by(
            NotificationAttemptRow.notification_id, NotificationAttemptRow.attempt
        )
    )
    by_notification: dict[str, list[NotificationAttemptRow]] = {}
    for attempt in attempts:
        by_notification.setdefault(attempt.notification_id, []).append(attempt)
    return [_to_record(row, by_notification.get(row.id)) for row in rows]
