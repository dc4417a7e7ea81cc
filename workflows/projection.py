"""The ticket workflow's event log, its projection and its logging.

`TicketProjection` is the base of the classes that make up `TicketWorkflow`.
It declares the state they share, appends `TicketEvent`s and writes them,
with a snapshot, through the `project_ticket` activity.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from helpdesk.contracts import (
        PROJECT_TICKET,
        ProjectionInput,
        TicketSnapshot,
        TicketWorkflowInput,
    )
    from helpdesk.domain import EventKind, TicketEvent
    from helpdesk.sla import SlaPolicy
    from workflows.state import TicketState, build_snapshot
    from workflows.texts import status_markdown
    from workflows.visibility import changed_search_attributes

SYSTEM_ACTOR = "system"

PROJECT_TIMEOUT = timedelta(seconds=15)

# Projection needs the database: retry until it is back.
PROJECT_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,
)


class TicketProjection:
    """Shared state of a ticket workflow, its events, projection and logs.

    `TicketWorkflow.__init__` sets these attributes.
    """

    _input: TicketWorkflowInput
    _ticket_id: str
    _policy: SlaPolicy
    _state: TicketState
    _lock: asyncio.Lock
    _notifications: set[asyncio.Task[None]]

    def _append(
        self, kind: EventKind, actor: str, details: dict[str, Any]
    ) -> TicketEvent:
        state = self._state
        now = workflow.now()
        state.last_seq += 1
        state.updated_at = now
        event = TicketEvent(
            seq=state.last_seq, at=now, kind=kind, actor=actor, details=details
        )
        state.pending_events.append(event)
        return event

    def _snapshot(self) -> TicketSnapshot:
        return build_snapshot(
            self._ticket_id,
            self._input.intake,
            self._policy,
            self._state,
            workflow.now(),
        )

    async def _publish(self) -> None:
        """Write pending events and the snapshot, and update search attributes."""
        state = self._state
        if not state.pending_events:
            return
        changed = changed_search_attributes(
            workflow.info().typed_search_attributes, state
        )
        if changed:
            workflow.upsert_search_attributes(changed)
        events = list(state.pending_events)
        await workflow.execute_activity(
            PROJECT_TICKET,
            ProjectionInput(snapshot=self._snapshot(), events=events),
            start_to_close_timeout=PROJECT_TIMEOUT,
            retry_policy=PROJECT_RETRY,
            summary=f"project ticket: events {events[0].seq}-{events[-1].seq}",
        )
        del state.pending_events[: len(events)]
        workflow.set_current_details(status_markdown(self._ticket_id, self._state))

    def _log(self, event: str, **fields: Any) -> None:
        workflow.logger.info(event, extra=self._log_fields(fields))

    def _warn(self, event: str, **fields: Any) -> None:
        workflow.logger.warning(event, extra=self._log_fields(fields))

    def _log_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "ticket_id": self._ticket_id,
            "stage": self._state.stage.value,
            **fields,
        }
