"""Tickets outliving their worker, and long-lived tickets continuing as new."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from ticket_harness import (
    act,
    events_of,
    intake,
    policy,
    settle,
    snapshot,
    ticket_stack,
    wait_snapshot,
)

from helpdesk.domain import ActionName, EventKind, Priority, SlaState, Stage


async def test_new_worker_finishes_ticket(
    dev_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    # Short targets so that SLA timers fire while no worker runs.
    short = policy(
        version="short-resolution",
        first_response={Priority.P3: "5s"},
        resolution={Priority.P3: "8s"},
    )
    async with ticket_stack(dev_env, tmp_path, unique_task_queue) as first:
        handle = await first.start(intake(priority=Priority.P3), policy=short)
        await settle(first, handle)
        acknowledged = await act(handle, ActionName.ACKNOWLEDGE)
        # Leaving the block stops the worker; the ticket stays open.
        first.started.clear()

    # The warnings and the breach fall due while no worker runs.
    await asyncio.sleep(9)

    async with ticket_stack(dev_env, tmp_path, unique_task_queue) as second:
        second.started.append(handle)
        await wait_snapshot(
            handle, lambda s: s.resolution.breached, what="the late breach"
        )
        late = await settle(second, handle)
        await act(handle, ActionName.DIAGNOSE, note="disk full on the match server")
        await act(handle, ActionName.SUBMIT_FIX, note="log rotation fixed")
        await act(handle, ActionName.VERIFY, passed=True)
        closed = await act(handle, ActionName.CLOSE)
        result = await handle.result()
        events = await second.db_history(closed.id)

    assert acknowledged.stage == Stage.DIAGNOSTICS
    assert late.resolution.breached
    assert late.sla_state == SlaState.BREACHED
    kinds = [event.kind for event in events]
    assert EventKind.SLA_BREACHED in kinds
    assert kinds.index(EventKind.SLA_BREACHED) < kinds.index(EventKind.STAGE_CHANGED)
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert result.stage == Stage.CLOSED
    assert result.sla_state == SlaState.BREACHED
    assert result.last_seq == len(events)


async def test_long_ticket_continues_as_new(
    dev_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    # The dev server suggests continue-as-new after 400 history events.
    async with ticket_stack(dev_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P2))
        start = await settle(stack, handle)
        first_run = (await handle.describe()).run_id
        await act(handle, ActionName.ACKNOWLEDGE)
        early_key = f"early-{uuid.uuid4()}"
        await act(handle, ActionName.COMMENT, note="comment 0", update_id=early_key)

        for number in range(1, 250):
            await act(handle, ActionName.COMMENT, note=f"comment {number}")
        repeated = await act(
            handle, ActionName.COMMENT, note="comment 0", update_id=early_key
        )
        settled = await settle(stack, handle)
        events = await stack.db_history(settled.id)
        runs = [
            execution
            async for execution in stack.client.list_workflows(
                f'WorkflowId = "{handle.id}"'
            )
        ]
        described = await handle.describe()
        history = await handle.fetch_history()
        current = await snapshot(handle)

    comments = events_of(events, EventKind.COMMENT)
    assert len(comments) == 250
    assert [c.details["note"] for c in comments[:2]] == ["comment 0", "comment 1"]
    assert comments[-1].details["note"] == "comment 249"
    assert repeated.last_seq >= comments[-1].seq
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert settled.last_seq == len(events)
    assert len(runs) >= 2
    assert described.run_id != first_run
    assert len(history.events) < 400
    assert current.stage == Stage.DIAGNOSTICS
    assert current.assignee == start.assignee
    assert current.first_response.met_at is not None
    assert current.resolution.due_at == start.resolution.due_at
    assert current.created_at == start.created_at
