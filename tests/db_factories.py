"""Builders of tickets, events and specialists for the database tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from helpdesk.contracts import SlaClockView, TicketSnapshot, workflow_id_for
from helpdesk.db import create_engine, session_factory, upgrade_database
from helpdesk.domain import (
    Assignee,
    Category,
    EventKind,
    Priority,
    Role,
    SlaState,
    SpecialistModel,
    Stage,
    TicketEvent,
    TicketType,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def migrated(
    url: str,
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """Migrate the database at `url` and yield an engine and session factory."""
    await upgrade_database(url)
    engine = create_engine(url)
    try:
        yield engine, session_factory(engine)
    finally:
        await engine.dispose()


def clock(
    name: str,
    *,
    due_in: timedelta | None,
    met: bool = False,
    paused: bool = False,
) -> SlaClockView:
    return SlaClockView(
        name=name,
        target_seconds=3600,
        started_at=T0,
        due_at=T0 + due_in if due_in is not None else None,
        remaining_seconds=due_in.total_seconds() if due_in else 0,
        paused=paused,
        met_at=T0 if met else None,
    )


def snapshot(
    ticket_id: str,
    *,
    last_seq: int = 1,
    stage: Stage = Stage.ASSIGNED,
    category: Category = Category.PAYMENT,
    priority: Priority = Priority.P2,
    ticket_type: TicketType = TicketType.PAYMENT_ISSUE,
    assignee: str | None = None,
    role: Role = Role.BACKEND_DEVELOPER,
    on_hold: bool = False,
    sla_state: SlaState = SlaState.ON_TRACK,
    first_response_in: timedelta | None = timedelta(minutes=30),
    resolution_in: timedelta | None = timedelta(hours=8),
    first_response_met: bool = False,
    external_ref: str | None = None,
    title: str = "Deposits stuck in pending",
) -> TicketSnapshot:
    return TicketSnapshot(
        id=ticket_id,
        workflow_id=workflow_id_for(ticket_id),
        external_ref=external_ref,
        title=title,
        description="Players report deposits that never arrive.",
        channel="email",
        reporter={"kind": "player"},
        type=ticket_type,
        category=category,
        priority=priority,
        stage=stage,
        on_hold=on_hold,
        assignee=Assignee(id=assignee, name=assignee.title(), role=role)
        if assignee
        else None,
        sla_state=sla_state,
        first_response=clock(
            "first_response",
            due_in=first_response_in,
            met=first_response_met,
            paused=on_hold,
        ),
        resolution=clock("resolution", due_in=resolution_in, paused=on_hold),
        sla_policy_version="default",
        last_seq=last_seq,
        created_at=T0,
        updated_at=T0 + timedelta(minutes=last_seq),
    )


def events(first: int, last: int) -> list[TicketEvent]:
    """Return events numbered first..last inclusive."""
    return [
        TicketEvent(
            seq=seq,
            at=T0 + timedelta(minutes=seq),
            kind=EventKind.REGISTERED if seq == 1 else EventKind.COMMENT,
            actor="system" if seq == 1 else "amelia.novak",
            details={"note": f"event {seq}"},
        )
        for seq in range(first, last + 1)
    ]


def specialist(
    specialist_id: str,
    *,
    roles: list[Role] | None = None,
    skills: list[Category] | None = None,
    on_shift: bool = True,
    max_open_tickets: int = 5,
) -> SpecialistModel:
    return SpecialistModel(
        id=specialist_id,
        name=specialist_id.replace(".", " ").title(),
        roles=roles or [Role.BACKEND_DEVELOPER],
        skills=skills or [],
        on_shift=on_shift,
        max_open_tickets=max_open_tickets,
        contact=f"{specialist_id}@support.example",
    )
