"""Tickets, their history and intake deduplication by external reference."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.contracts import TicketSnapshot
from helpdesk.db.models import ExternalRefRow, TicketEventRow, TicketRow
from helpdesk.db.repository._sql import dialect_insert, execute_for_rowcount
from helpdesk.domain import (
    Category,
    Priority,
    SlaState,
    Stage,
    TicketEvent,
    TicketType,
)

# The `assignee` filter value that selects tickets nobody holds.
UNASSIGNED = "unassigned"
MAX_PAGE_SIZE = 500


class InvalidCursor(ValueError):
    """A page cursor that this service did not issue, or that was altered."""


class TicketFilters(BaseModel):
    """Filters of the ticket queue; unset fields do not filter.

    A field given a list matches a ticket with any of the listed values;
    different fields must all match.
    """

    model_config = ConfigDict(extra="forbid")

    stage: Stage | list[Stage] | None = None
    type: TicketType | list[TicketType] | None = None
    category: Category | list[Category] | None = None
    priority: Priority | list[Priority] | None = None
    # Specialist ids, or "unassigned".
    assignee: str | list[str] | None = None
    sla_state: SlaState | list[SlaState] | None = None
    on_hold: bool | None = None


class TicketRecord(BaseModel):
    """A row of the tickets table with its latest snapshot."""

    id: str
    workflow_id: str
    external_ref: str | None
    title: str
    type: TicketType
    category: Category
    priority: Priority
    stage: Stage
    on_hold: bool
    assignee_id: str | None
    assignee_name: str | None
    queue_role: str | None
    sla_state: SlaState
    escalation_level: int
    next_deadline: datetime | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    last_seq: int
    created_at: datetime
    updated_at: datetime
    snapshot: TicketSnapshot

    @classmethod
    def from_row(cls, row: TicketRow) -> TicketRecord:
        return cls(
            id=row.id,
            workflow_id=row.workflow_id,
            external_ref=row.external_ref,
            title=row.title,
            type=TicketType(row.type),
            category=Category(row.category),
            priority=Priority(row.priority),
            stage=Stage(row.stage),
            on_hold=row.on_hold,
            assignee_id=row.assignee_id,
            assignee_name=row.assignee_name,
            queue_role=row.queue_role,
            sla_state=SlaState(row.sla_state),
            escalation_level=row.escalation_level,
            next_deadline=row.next_deadline,
            first_response_due=row.first_response_due,
            resolution_due=row.resolution_due,
            last_seq=row.last_seq,
            created_at=row.created_at,
            updated_at=row.updated_at,
            snapshot=TicketSnapshot.model_validate(row.snapshot),
        )


class ProjectionOutcome(BaseModel):
    """Counts of what one projection wrote."""

    ticket_updated: bool
    events_inserted: int
    external_ref_released: bool


def next_deadline(snapshot: TicketSnapshot) -> datetime | None:
    """Return the earliest due time of a clock that still runs.

    A clock runs until it is met; a breached clock keeps its (past) due time,
    so breached tickets sort first. On hold, and after resolution, no clock
    runs and the ticket sorts after all running ones.
    """
    if snapshot.on_hold or snapshot.stage in (Stage.RESOLVED, Stage.CLOSED):
        return None
    due = [
        clock.due_at
        for clock in (snapshot.first_response, snapshot.resolution)
        if clock.due_at is not None and clock.met_at is None and not clock.paused
    ]
    return min(due, default=None)


def _ticket_values(snapshot: TicketSnapshot) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "workflow_id": snapshot.workflow_id,
        "external_ref": snapshot.external_ref,
        "title": snapshot.title,
        "type": snapshot.type.value,
        "category": snapshot.category.value,
        "priority": snapshot.priority.value,
        "stage": snapshot.stage.value,
        "on_hold": snapshot.on_hold,
        "assignee_id": snapshot.assignee.id if snapshot.assignee else None,
        "assignee_name": snapshot.assignee.name if snapshot.assignee else None,
        "queue_role": snapshot.queue_role.value if snapshot.queue_role else None,
        "sla_state": snapshot.sla_state.value,
        "escalation_level": snapshot.escalation_level,
        "next_deadline": next_deadline(snapshot),
        "first_response_due": snapshot.first_response.due_at,
        "resolution_due": snapshot.resolution.due_at,
        "last_seq": snapshot.last_seq,
        "created_at": snapshot.created_at,
        "updated_at": snapshot.updated_at,
        "snapshot": snapshot.model_dump(mode="json"),
    }


async def upsert_ticket(session: AsyncSession, snapshot: TicketSnapshot) -> bool:
    """Insert or update the ticket row, unless the stored row is newer.

    The row changes only when `snapshot.last_seq` is at least the stored
    `last_seq`, so a late retry of an older projection never rolls the row
    back. Returns whether the row was written.
    """
    values = _ticket_values(snapshot)
    insert = dialect_insert(session, TicketRow).values(**values)
    updated = {key: insert.excluded[key] for key in values if key != "id"}
    statement = insert.on_conflict_do_update(
        index_elements=[TicketRow.id],
        set_=updated,
        where=TicketRow.last_seq <= insert.excluded.last_seq,
    )
    return bool(await execute_for_rowcount(session, statement))


async def append_events(
    session: AsyncSession, ticket_id: str, events: list[TicketEvent]
) -> int:
    """Insert events that are not stored yet; return how many were new."""
    if not events:
        return 0
    rows = [
        {
            "ticket_id": ticket_id,
            "seq": event.seq,
            "at": event.at,
            "kind": event.kind.value,
            "actor": event.actor,
            "details": event.model_dump(mode="json")["details"],
        }
        for event in events
    ]
    statement = (
        dialect_insert(session, TicketEventRow)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["ticket_id", "seq"])
    )
    return await execute_for_rowcount(session, statement)


async def project_ticket(
    session: AsyncSession, snapshot: TicketSnapshot, events: list[TicketEvent]
) -> ProjectionOutcome:
    """Write a ticket's snapshot and new events; safe to repeat.

    A closed ticket gives up its external reference, so the same reference
    can open a new ticket.
    """
    ticket_updated = await upsert_ticket(session, snapshot)
    inserted = await append_events(session, snapshot.id, events)
    released = False
    if snapshot.stage == Stage.CLOSED and snapshot.external_ref:
        released = await release_external_ref(
            session, snapshot.external_ref, snapshot.id
        )
    return ProjectionOutcome(
        ticket_updated=ticket_updated,
        events_inserted=inserted,
        external_ref_released=released,
    )


async def get_ticket(session: AsyncSession, ticket_id: str) -> TicketRecord | None:
    row = await session.get(TicketRow, ticket_id)
    return TicketRecord.from_row(row) if row else None


async def get_history(session: AsyncSession, ticket_id: str) -> list[TicketEvent]:
    """Return a ticket's events in order; empty for an unknown ticket."""
    rows = await session.scalars(
        select(TicketEventRow)
        .where(TicketEventRow.ticket_id == ticket_id)
        .order_by(TicketEventRow.seq)
    )
    return [
        TicketEvent(
            seq=row.seq, at=row.at, kind=row.kind, actor=row.actor, details=row.details
        )
        for row in rows
    ]


def encode_cursor(deadline: datetime | None, ticket_id: str) -> str:
    payload = json.dumps([deadline.isoformat() if deadline else None, ticket_id])
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime | None, str]:
    """Return the (next_deadline, id) of the last row of the previous page."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        deadline, ticket_id = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(ticket_id, str):
            raise TypeError(ticket_id)
        parsed = datetime.fromisoformat(deadline) if deadline is not None else None
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor(
            f"invalid page cursor {cursor[:40]!r}: pass next_cursor from the "
            "previous page unchanged, or omit it for the first page"
        ) from exc
    if parsed is not None and parsed.tzinfo is None:
        raise InvalidCursor(f"invalid page cursor {cursor[:40]!r}: naive timestamp")
    return parsed, ticket_id


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _filter_clauses(filters: TicketFilters) -> list[Any]:
    clauses: list[Any] = []
    for name in ("stage", "type", "category", "priority", "sla_state"):
        value = getattr(filters, name)
        if value is not None:
            values = [item.value for item in _as_list(value)]
            clauses.append(getattr(TicketRow, name).in_(values))
    if filters.assignee is not None:
        assignees = _as_list(filters.assignee)
        ids = [assignee for assignee in assignees if assignee != UNASSIGNED]
        either = [TicketRow.assignee_id.in_(ids)] if ids else []
        if UNASSIGNED in assignees:
            either.append(TicketRow.assignee_id.is_(None))
        clauses.append(or_(*either))
    if filters.on_hold is not None:
        clauses.append(TicketRow.on_hold.is_(filters.on_hold))
    return clauses


def _after_cursor(deadline: datetime | None, ticket_id: str) -> Any:
    """Return the rows that sort after (deadline, id) with NULL deadlines last."""
    if deadline is None:
        return and_(TicketRow.next_deadline.is_(None), TicketRow.id > ticket_id)
    return or_(
        TicketRow.next_deadline > deadline,
        and_(TicketRow.next_deadline == deadline, TicketRow.id > ticket_id),
        TicketRow.next_deadline.is_(None),
    )


async def list_tickets(
    session: AsyncSession,
    filters: TicketFilters | None = None,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[TicketRecord], str | None]:
    """Return one page of the queue, nearest SLA deadline first.

    Tickets without a running clock come last; ties are ordered by id. The
    second value is the cursor of the next page, or None on the last page.
    Raises InvalidCursor for a cursor this function did not return, and
    ValueError for a limit outside 1..500.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"invalid limit {limit}: use 1 to {MAX_PAGE_SIZE}")
    query = select(TicketRow).where(*_filter_clauses(filters or TicketFilters()))
    if cursor is not None:
        query = query.where(_after_cursor(*decode_cursor(cursor)))
    query = query.order_by(
        TicketRow.next_deadline.is_(None), TicketRow.next_deadline, TicketRow.id
    ).limit(limit + 1)

    rows = list(await session.scalars(query))
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last.next_deadline, last.id)
    return [TicketRecord.from_row(row) for row in page], next_cursor


async def claim_external_ref(
    session: AsyncSession, external_ref: str, ticket_id: str
) -> str | None:
    """Claim `external_ref` for `ticket_id`, unless an open ticket holds it.

    Returns the id of the other ticket that claimed the reference first, or
    None when the claim is now `ticket_id`'s (claiming twice is allowed). The
    primary key on the reference makes this atomic between processes; the
    claim is durable once the caller commits.
    """
    statement = (
        dialect_insert(session, ExternalRefRow)
        .values(external_ref=external_ref, ticket_id=ticket_id)
        .on_conflict_do_nothing(index_elements=["external_ref"])
    )
    await session.execute(statement)
    holder = await session.scalar(
        select(ExternalRefRow.ticket_id).where(
            ExternalRefRow.external_ref == external_ref
        )
    )
    return None if holder == ticket_id else holder


async def release_external_ref(
    session: AsyncSession, external_ref: str, ticket_id: str
) -> bool:
    """Release the reference if `ticket_id` holds it; return whether it did."""
    statement = delete(ExternalRefRow).where(
        ExternalRefRow.external_ref == external_ref,
        ExternalRefRow.ticket_id == ticket_id,
    )
    return bool(await execute_for_rowcount(session, statement))


async def ping(session: AsyncSession) -> None:
    """Run a trivial query; raises if the database cannot be reached."""
    await session.execute(text("SELECT 1"))
