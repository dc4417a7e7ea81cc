"""A ticket's whole life on the real dev server, checked against the database.

Every step is checked three ways: the snapshot the update returns, the
read model written by the `project_ticket` activity, and the search
attributes in Temporal's visibility store.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from ticket_harness import (
    Stack,
    act,
    comparable,
    events_of,
    intake,
    settle,
    snapshot,
    ticket_stack,
    wait_for,
)

from helpdesk import search_attributes as keys
from helpdesk.contracts import (
    REPORT_DUPLICATE_UPDATE,
    DuplicateReport,
    TicketSnapshot,
    workflow_id_for,
)
from helpdesk.domain import (
    ActionName,
    EventKind,
    HoldReason,
    Priority,
    SlaState,
    Stage,
)


async def assert_projected(
    stack: Stack, handle: WorkflowHandle[Any, Any]
) -> TicketSnapshot:
    """Check that the database and the search attributes match the workflow."""
    current = await settle(stack, handle)
    record = await stack.db_ticket(current.id)
    assert record is not None
    assert comparable(record.snapshot) == comparable(current)
    events = await stack.db_history(current.id)
    assert [event.seq for event in events] == list(range(1, current.last_seq + 1))

    described = (await handle.describe()).typed_search_attributes
    expected = {
        keys.TICKET_TYPE: current.type.value,
        keys.TICKET_CATEGORY: current.category.value,
        keys.TICKET_PRIORITY: current.priority.value,
        keys.TICKET_STAGE: current.stage.value,
        keys.TICKET_ASSIGNEE: current.assignee.id if current.assignee else "unassigned",
        keys.TICKET_SLA_STATE: current.sla_state.value,
    }
    for key, value in expected.items():
        assert described.get(key) == value, key.name
    return current


async def wait_visible(stack: Stack, query: str) -> list[str]:
    """Poll the visibility store until the query lists a workflow."""

    async def listed() -> list[str]:
        return [execution.id async for execution in stack.client.list_workflows(query)]

    return await wait_for(listed, timeout=20.0, what=f"visibility query {query}")


async def test_full_lifecycle_projects_every_step(
    dev_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(dev_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P1))
        workflow_id = handle.id
        registered = await assert_projected(stack, handle)

        returned: list[TicketSnapshot] = []
        steps: list[tuple[ActionName, dict[str, Any]]] = [
            (ActionName.ACKNOWLEDGE, {}),
            (ActionName.COMMENT, {"note": "looking at the load balancer"}),
            (ActionName.HOLD, {"reason": HoldReason.WAITING_FOR_PROVIDER}),
            (ActionName.RESUME, {}),
            (ActionName.DIAGNOSE, {"note": "health check points at a dead pool"}),
            (ActionName.SUBMIT_FIX, {"note": "pool replaced"}),
            (ActionName.VERIFY, {"passed": False, "note": "eu-west-2 still drops"}),
            (ActionName.SUBMIT_FIX, {"note": "second pool replaced"}),
            (ActionName.VERIFY, {"passed": True}),
            (ActionName.CLOSE, {"note": "confirmed by the provider"}),
        ]
        for action, fields in steps:
            after = await act(handle, action, "dev.ada", **fields)
            # The action's event is in the database when the update returns.
            stored = await stack.db_history(after.id)
            assert stored[after.last_seq - 1].seq == after.last_seq
            returned.append(after)
            if after.stage != Stage.CLOSED:
                await assert_projected(stack, handle)
            if action == ActionName.ACKNOWLEDGE:
                found = await wait_visible(
                    stack,
                    f'WorkflowId = "{workflow_id}" and TicketPriority = "P1" '
                    'and TicketStage = "diagnostics"',
                )
                assert found == [workflow_id]

        closed = await handle.result()
        events = await stack.db_history(closed.id)
        record = await stack.db_ticket(closed.id)

        assert registered.stage == Stage.ASSIGNED
        assert [s.stage for s in returned] == [
            Stage.DIAGNOSTICS,
            Stage.DIAGNOSTICS,
            Stage.DIAGNOSTICS,
            Stage.DIAGNOSTICS,
            Stage.CORRECTION,
            Stage.SOLUTION_CHECK,
            Stage.CORRECTION,
            Stage.SOLUTION_CHECK,
            Stage.RESOLVED,
            Stage.CLOSED,
        ]
        assert returned[2].on_hold
        assert returned[2].sla_state == SlaState.PAUSED
        assert not returned[3].on_hold
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert closed.last_seq == len(events)
        main_kinds = [
            e.kind
            for e in events
            if e.kind
            not in (EventKind.NOTIFICATION_SENT, EventKind.NOTIFICATION_FAILED)
        ]
        assert main_kinds == [
            EventKind.REGISTERED,
            EventKind.CLASSIFIED,
            EventKind.ASSIGNED,
            EventKind.ACKNOWLEDGED,
            EventKind.COMMENT,
            EventKind.HOLD,
            EventKind.RESUME,
            EventKind.STAGE_CHANGED,
            EventKind.STAGE_CHANGED,
            EventKind.STAGE_CHANGED,
            EventKind.STAGE_CHANGED,
            EventKind.RESOLVED,
            EventKind.CLOSED,
        ]
        assert events[0].details["sla_policy_version"] == "default"
        assert closed.sla_state == SlaState.MET
        assert record is not None
        assert comparable(record.snapshot) == comparable(closed)
        found = await wait_visible(
            stack, f'WorkflowId = "{workflow_id}" and TicketStage = "closed"'
        )
        assert found == [workflow_id]
        print(f"events for a full lifecycle: {len(events)}")  # noqa: T201


@pytest.mark.parametrize(
    ("action", "fields", "error_type", "message"),
    [
        (
            ActionName.CLOSE,
            {},
            "IllegalTransition",
            "cannot close: ticket is in stage assigned; close needs stage resolved",
        ),
        (
            ActionName.DIAGNOSE,
            {},
            "InvalidAction",
            "diagnose needs a note with the cause",
        ),
        (ActionName.VERIFY, {}, "InvalidAction", "verify needs passed: true or false"),
        (
            ActionName.RESUME,
            {},
            "IllegalTransition",
            "cannot resume: ticket is not on hold",
        ),
        (
            ActionName.REASSIGN,
            {"assignee": "dev.ada"},
            "InvalidAction",
            "reassign needs another specialist: the ticket is already assigned "
            "to dev.ada",
        ),
    ],
)
async def test_rejected_action_leaves_no_trace(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    unique_task_queue: str,
    action: ActionName,
    fields: dict[str, Any],
    error_type: str,
    message: str,
) -> None:
    async with ticket_stack(dev_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P2))
        before = await settle(stack, handle)
        assert before.assignee is not None
        if action == ActionName.REASSIGN:
            fields = {"assignee": before.assignee.id}
            message = message.replace("dev.ada", before.assignee.id)
        history_before = len((await handle.fetch_history()).events)
        rows_before = await stack.db_history(before.id)
        record_before = await stack.db_ticket(before.id)

        with pytest.raises(WorkflowUpdateFailedError) as failure:
            await act(handle, action, **fields)

        history_after = len((await handle.fetch_history()).events)
        rows_after = await stack.db_history(before.id)
        record_after = await stack.db_ticket(before.id)
        after = await snapshot(handle)
        cause = failure.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == error_type
        assert cause.message == message
        assert history_after == history_before
        assert rows_after == rows_before
        assert record_after == record_before
        assert comparable(after) == comparable(before)


async def test_repeated_update_id_acts_once(
    dev_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(dev_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P3))
        await settle(stack, handle)
        key = f"comment-{uuid.uuid4()}"

        first = await act(handle, ActionName.COMMENT, note="first", update_id=key)
        again = await act(handle, ActionName.COMMENT, note="first", update_id=key)
        settled = await settle(stack, handle)
        events = await stack.db_history(settled.id)

        assert again.last_seq == first.last_seq
        assert len(events_of(events, EventKind.COMMENT)) == 1


async def test_duplicate_report_recorded(
    dev_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(dev_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(
            intake(priority=Priority.P3, external_ref="INC-4411")
        )
        await settle(stack, handle)

        result = await handle.execute_update(
            REPORT_DUPLICATE_UPDATE,
            DuplicateReport(
                external_ref="INC-4411",
                channel="email",
                title="Servers down again?",
                reported_at=datetime.now(UTC),
            ),
            result_type=TicketSnapshot,
        )
        events = await stack.db_history(result.id)

        assert handle.id == workflow_id_for(result.id)
        duplicate = events[result.last_seq - 1]
        assert duplicate.kind == EventKind.DUPLICATE_REPORTED
        assert duplicate.actor == "intake:email"
        assert duplicate.details["external_ref"] == "INC-4411"
