"""Duplicate reports that reach a ticket before its first workflow task."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from ticket_harness import intake, ticket_stack, wait_snapshot

from helpdesk.contracts import (
    REPORT_DUPLICATE_UPDATE,
    DuplicateReport,
    TicketSnapshot,
    TicketWorkflowInput,
    workflow_id_for,
)
from helpdesk.domain import EventKind, Stage
from helpdesk.ids import new_ticket_id
from helpdesk.sla import DEFAULT_POLICY
from worker.main import build_worker
from workflows.ticket import TicketWorkflow
from workflows.visibility import initial_search_attributes


async def test_early_duplicate_follows_registration(
    dev_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(dev_env, tmp_path, unique_task_queue) as stack:
        # No worker polls this queue yet, so the start and the duplicate
        # report arrive together in the ticket's first workflow task.
        late_queue = f"{unique_task_queue}-late"
        ticket_id = new_ticket_id()
        ticket = intake(external_ref="alert-early-dup")
        handle = await stack.client.start_workflow(
            TicketWorkflow.run,
            TicketWorkflowInput(
                ticket_id=ticket_id,
                intake=ticket,
                registered_at=datetime.now(UTC),
                policy=DEFAULT_POLICY,
            ),
            id=workflow_id_for(ticket_id),
            task_queue=late_queue,
            search_attributes=initial_search_attributes(ticket),
        )
        stack.started.append(handle)
        report = DuplicateReport(
            external_ref="alert-early-dup",
            channel="monitoring",
            title=ticket.title,
            reported_at=datetime.now(UTC),
        )
        duplicate = asyncio.create_task(
            handle.execute_update(
                REPORT_DUPLICATE_UPDATE, report, result_type=TicketSnapshot
            )
        )
        await asyncio.sleep(0.5)

        worker = build_worker(
            stack.client, stack.settings, task_queue=late_queue, engine=stack.engine
        )
        async with worker:
            await duplicate
            await wait_snapshot(
                handle, lambda s: s.stage == Stage.ASSIGNED, what="assigned"
            )
            history = await stack.db_history(ticket_id)
            await stack.terminate_open_tickets()

    kinds = [event.kind for event in history]
    assert kinds[0] == EventKind.REGISTERED
    assert kinds.count(EventKind.DUPLICATE_REPORTED) == 1
    assert [event.seq for event in history] == list(range(1, len(history) + 1))
