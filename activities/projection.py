"""The `project_ticket` activity: write a ticket's state to the read model."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from helpdesk.contracts import PROJECT_TICKET, ProjectionInput
from helpdesk.db import repository

log = structlog.get_logger("helpdesk.activities.projection")


class ProjectionActivities:
    """Holds the database that `project_ticket` writes to."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name=PROJECT_TICKET)
    async def project_ticket(self, projection: ProjectionInput) -> None:
        """Write the snapshot and new events of a ticket in one transaction.

        Idempotent: an event is inserted only if its (ticket_id, seq) is not
        stored yet. The ticket row changes only if the snapshot's `last_seq`
        is not older than the stored one. So a retry or a late duplicate
        neither duplicates history nor rolls the row back. A closed ticket
        releases its external reference.

        Recommended call options: start_to_close_timeout=15s, retry with
        initial_interval=500ms, backoff_coefficient=2, maximum_interval=10s
        and no attempt limit: a dropped projection would leave the queue
        and history wrong until the next change of the ticket.
        """
        snapshot = projection.snapshot
        async with self._sessions.begin() as session:
            outcome = await repository.project_ticket(
                session, snapshot, projection.events
            )
        log.debug(
            "ticket.projected",
            ticket_id=snapshot.id,
            last_seq=snapshot.last_seq,
            stage=snapshot.stage.value,
            ticket_updated=outcome.ticket_updated,
            events_inserted=outcome.events_inserted,
            external_ref_released=outcome.external_ref_released,
        )
