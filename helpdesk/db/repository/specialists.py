"""Specialists, their open-ticket load, routing cursors and assignment records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.db.models import (
    AssignmentDecisionRow,
    RoutingStateRow,
    SpecialistRow,
    TicketRow,
    utcnow,
)
from helpdesk.db.repository._sql import dialect_insert, execute_for_rowcount
from helpdesk.domain import OPEN_STAGES, Role, SpecialistModel


def _to_model(row: SpecialistRow) -> SpecialistModel:
    return SpecialistModel(
        id=row.id,
        name=row.name,
        roles=row.roles,
        skills=row.skills,
        on_shift=row.on_shift,
        max_open_tickets=row.max_open_tickets,
        contact=row.contact,
    )


def _row_values(specialist: SpecialistModel) -> dict[str, Any]:
    return {
        "id": specialist.id,
        "name": specialist.name,
        "roles": [role.value for role in specialist.roles],
        "skills": [skill.value for skill in specialist.skills],
        "on_shift": specialist.on_shift,
        "max_open_tickets": specialist.max_open_tickets,
        "contact": specialist.contact,
    }


async def list_specialists(session: AsyncSession) -> list[SpecialistModel]:
    """Return every specialist, ordered by id."""
    rows = await session.scalars(select(SpecialistRow).order_by(SpecialistRow.id))
    return [_to_model(row) for row in rows]


async def list_specialists_with_role(
    session: AsyncSession, role: Role, *, on_shift_only: bool = True
) -> list[SpecialistModel]:
    """Return the specialists that have `role`, ordered by id.

    Roles are a JSON list, so the filter runs in Python over the whole
    table. NOTE: that suits a roster of tens or hundreds of people. A much
    larger one would need a specialist_roles table.
    """
    return [
        specialist
        for specialist in await list_specialists(session)
        if role in specialist.roles and (specialist.on_shift or not on_shift_only)
    ]


async def get_specialist(
    session: AsyncSession, specialist_id: str, *, for_update: bool = False
) -> SpecialistModel | None:
    """Return the specialist, or None; `for_update` locks the row on PostgreSQL
    until the transaction ends, for a read-modify-write."""
    row = await session.get(SpecialistRow, specialist_id, with_for_update=for_update)
    return _to_model(row) if row else None


async def upsert_specialist(
    session: AsyncSession, specialist: SpecialistModel
) -> SpecialistModel:
    """Create the specialist, or replace every field of an existing one."""
    values = _row_values(specialist)
    now = utcnow()
    insert = dialect_insert(session, SpecialistRow).values(
        **values, created_at=now, updated_at=now
    )
    changed = {key: insert.excluded[key] for key in values if key != "id"}
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[SpecialistRow.id], set_={**changed, "updated_at": now}
        )
    )
    return specialist


async def insert_missing_specialists(
    session: AsyncSession, specialists: Iterable[SpecialistModel]
) -> list[str]:
    """Insert the specialists whose id is not stored yet; return their ids.

    Stored specialists are left as they are, so changes made through the
    API (a shift change, a new limit) survive a restart that seeds the
    roster again.
    """
    inserted = []
    now = utcnow()
    for specialist in specialists:
        statement = (
            dialect_insert(session, SpecialistRow)
            .values(**_row_values(specialist), created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        if await execute_for_rowcount(session, statement):
            inserted.append(specialist.id)
    return inserted


async def open_ticket_counts(
    session: AsyncSession, *, excluding_ticket: str | None = None
) -> dict[str, int]:
    """Return the number of open tickets held by each specialist.

    A ticket is open in every stage but resolved and closed.
    `excluding_ticket` leaves one ticket out, so a ticket being reassigned
    does not count against the specialists competing for it.
    """
    query = (
        select(TicketRow.assignee_id, func.count())
        .where(
            TicketRow.assignee_id.is_not(None),
            TicketRow.stage.in_([stage.value for stage in OPEN_STAGES]),
        )
        .group_by(TicketRow.assignee_id)
    )
    if excluding_ticket is not None:
        query = query.where(TicketRow.id != excluding_ticket)
    result = await session.execute(query)
    return {assignee_id: count for assignee_id, count in result if assignee_id}


async def lock_routing_cursor(session: AsyncSession, role: Role) -> str | None:
    """Lock the round-robin cursor of `role` until commit; return its value.

    The cursor is the id of the specialist picked last on a tie. The lock
    serialises assignments to one role: PostgreSQL locks the row, and on
    SQLite the first INSERT takes the database write lock.
    """
    await session.execute(
        dialect_insert(session, RoutingStateRow)
        .values(role=role.value, last_specialist_id=None, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["role"])
    )
    return await session.scalar(
        select(RoutingStateRow.last_specialist_id)
        .where(RoutingStateRow.role == role.value)
        .with_for_update()
    )


async def set_routing_cursor(
    session: AsyncSession, role: Role, specialist_id: str
) -> None:
    row = await session.get(RoutingStateRow, role.value)
    if row is None:
        session.add(
            RoutingStateRow(
                role=role.value, last_specialist_id=specialist_id, updated_at=utcnow()
            )
        )
    else:
        row.last_specialist_id = specialist_id
        row.updated_at = utcnow()
    await session.flush()


async def get_assignment_decision(
    session: AsyncSession, ticket_id: str, request_key: str
) -> dict[str, Any] | None:
    """Return the recorded result of an assignment request, if any."""
    return await session.scalar(
        select(AssignmentDecisionRow.result).where(
            AssignmentDecisionRow.ticket_id == ticket_id,
            AssignmentDecisionRow.request_key == request_key,
        )
    )


async def record_assignment_decision(
    session: AsyncSession,
    ticket_id: str,
    request_key: str,
    *,
    role: Role,
    assignee_id: str | None,
    result: dict[str, Any],
) -> dict[str, Any]:
    """Record the result of an assignment request; the first record wins.

    Returns the stored result, which is another caller's when two runs of
    the same request race.
    """
    await session.execute(
        dialect_insert(session, AssignmentDecisionRow)
        .values(
            ticket_id=ticket_id,
            request_key=request_key,
            role=role.value,
            assignee_id=assignee_id,
            result=result,
            decided_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["ticket_id", "request_key"])
    )
    stored = await get_assignment_decision(session, ticket_id, request_key)
    assert stored is not None
    return stored
