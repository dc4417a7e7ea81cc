"""ORM models of the read model: the tables behind the queue, history,
specialists and notifications.

The workflow is the source of truth for a ticket. These tables are a
projection of it, which the activities write and the API reads.
Alembic migrations in `helpdesk/migrations` create them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Constraint names fixed by convention, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    PostgreSQL stores `timestamptz`. SQLite has no time zone type, so the
    value is stored as naive UTC text and made aware again on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TicketRow(Base):
    """One row per ticket: the latest projected snapshot plus filter columns."""

    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(64))
    external_ref: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32), index=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    priority: Mapped[str] = mapped_column(String(2), index=True)
    stage: Mapped[str] = mapped_column(String(32), index=True)
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee_id: Mapped[str | None] = mapped_column(String(64), index=True)
    assignee_name: Mapped[str | None] = mapped_column(String(200))
    queue_role: Mapped[str | None] = mapped_column(String(32))
    sla_state: Mapped[str] = mapped_column(String(16), index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    # The earliest due time of a running SLA clock; NULL when no clock runs
    # (on hold, resolved, closed). The queue is ordered by it.
    next_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_response_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution_due: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JsonType)

    __table_args__ = (Index("ix_tickets_next_deadline_id", "next_deadline", "id"),)


class TicketEventRow(Base):
    """One history entry; append-only, unique per (ticket_id, seq)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JsonType)

    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)


class SpecialistRow(Base):
    __tablename__ = "specialists"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JsonType)
    skills: Mapped[list[str]] = mapped_column(JsonType)
    on_shift: Mapped[bool] = mapped_column(Boolean, default=True)
    max_open_tickets: Mapped[int] = mapped_column(Integer)
    contact: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class NotificationRow(Base):
    """One notification, keyed by the caller's idempotency key.

    `status` is `pending` until a channel accepts it (`sent`), a channel
    rejects it for good (`rejected`, an HTTP 4xx), or no recipient is on
    shift (`undeliverable`). A failed attempt that will be retried leaves it
    `failed`.
    """

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(16), index=True)
    recipient: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300))
    priority: Mapped[str] = mapped_column(String(2))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    recipients: Mapped[list[str]] = mapped_column(JsonType)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class NotificationAttemptRow(Base):
    """One try to hand a notification to its channel."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(
        String(200), ForeignKey("notifications.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("notification_id", "attempt"),)


class RoutingStateRow(Base):
    """The round-robin cursor of a role: the specialist picked last on a tie."""

    __tablename__ = "routing_state"

    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_specialist_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ExternalRefRow(Base):
    """An intake system's reference held by an open ticket (intake dedup)."""

    __tablename__ = "external_refs"

    external_ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(16), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AssignmentDecisionRow(Base):
    """The specialist chosen by one assignment request.

    `request_key` names the activity execution (workflow run and activity
    id), which stays the same across retries, so a retried assignment
    returns the recorded choice.
    """

    __tablename__ = "assignment_decisions"

    ticket_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    request_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    assignee_id: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JsonType)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class IdempotencyKeyRow(Base):
    """A client's Idempotency-Key with the request it was first sent with.

    `scope` is `intake` for POST /v1/tickets, or `action:<ticket id>` for
    the actions on one ticket. `request_sha256` is the hash of the
    validated request body, so the same key with another body can be
    rejected; `ticket_id` is the ticket the request opened or acted on.
    Rows older than the retention period are deleted when a key is claimed.
    """

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
