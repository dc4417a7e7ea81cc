"""Create the read model tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-04

Column types are written out here instead of imported from
`helpdesk.db.models`, so this revision keeps creating the same schema
after the models change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _big_id() -> sa.Column[object]:
    # SQLite only auto-increments an INTEGER PRIMARY KEY.
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("external_ref", sa.String(200), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("on_hold", sa.Boolean(), nullable=False),
        sa.Column("assignee_id", sa.String(64), nullable=True),
        sa.Column("assignee_name", sa.String(200), nullable=True),
        sa.Column("queue_role", sa.String(32), nullable=True),
        sa.Column("sla_state", sa.String(16), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        _time("next_deadline", nullable=True),
        _time("first_response_due", nullable=True),
        _time("resolution_due", nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.Column("snapshot", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
    )
    for column in ("assignee_id", "category", "priority", "sla_state", "stage", "type"):
        op.create_index(f"ix_tickets_{column}", "tickets", [column])
    op.create_index("ix_tickets_next_deadline_id", "tickets", ["next_deadline", "id"])

    op.create_table(
        "ticket_events",
        _big_id(),
        sa.Column("ticket_id", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        _time("at"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("details", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_events"),
        sa.UniqueConstraint("ticket_id", "seq", name="uq_ticket_events_ticket_id_seq"),
    )

    op.create_table(
        "specialists",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("roles", _json(), nullable=False),
        sa.Column("skills", _json(), nullable=False),
        sa.Column("on_shift", sa.Boolean(), nullable=False),
        sa.Column("max_open_tickets", sa.Integer(), nullable=False),
        sa.Column("contact", sa.String(320), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_specialists"),
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("ticket_id", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recipients", _json(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_ticket_id", "notifications", ["ticket_id"])

    op.create_table(
        "notification_attempts",
        _big_id(),
        sa.Column("notification_id", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _time("started_at"),
        _time("finished_at"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name="fk_notification_attempts_notification_id_notifications",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notification_attempts"),
        sa.UniqueConstraint(
            "notification_id",
            "attempt",
            name="uq_notification_attempts_notification_id_attempt",
        ),
    )

    op.create_table(
        "routing_state",
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("last_specialist_id", sa.String(64), nullable=True),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("role", name="pk_routing_state"),
    )

    op.create_table(
        "external_refs",
        sa.Column("external_ref", sa.String(200), nullable=False),
        sa.Column("ticket_id", sa.String(16), nullable=False),
        _time("claimed_at"),
        sa.PrimaryKeyConstraint("external_ref", name="pk_external_refs"),
    )
    op.create_index("ix_external_refs_ticket_id", "external_refs", ["ticket_id"])

    op.create_table(
        "assignment_decisions",
        sa.Column("ticket_id", sa.String(16), nullable=False),
        sa.Column("request_key", sa.String(300), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("assignee_id", sa.String(64), nullable=True),
        sa.Column("result", _json(), nullable=False),
        _time("decided_at"),
        sa.PrimaryKeyConstraint(
            "ticket_id", "request_key", name="pk_assignment_decisions"
        ),
    )


def downgrade() -> None:
    op.drop_table("assignment_decisions")
    op.drop_table("external_refs")
    op.drop_table("routing_state")
    op.drop_table("notification_attempts")
    op.drop_table("notifications")
    op.drop_table("specialists")
    op.drop_table("ticket_events")
    op.drop_table("tickets")
