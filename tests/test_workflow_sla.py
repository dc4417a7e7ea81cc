"""SLA clocks, warnings, breaches and the escalation ladder over simulated hours.

These tests run on the time-skipping server: `advance` moves its clock, the
workflow's durable timers fire at their instants, and the real activities
write to a SQLite file in tmp_path.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from ticket_harness import (
    DEVOPS,
    Stack,
    act,
    advance,
    comparable,
    events_of,
    intake,
    settle,
    ticket_stack,
    wait_for,
)
from webhook_receiver import Reply, webhook_receiver

from helpdesk import search_attributes as keys
from helpdesk.domain import (
    ActionName,
    Category,
    EventKind,
    HoldReason,
    Priority,
    Role,
    SlaState,
    SpecialistModel,
    Stage,
    TicketEvent,
    TicketType,
)
from helpdesk.sla import DEFAULT_POLICY

# How late a timer-driven event may be recorded after its instant: the
# workflow reacts in real time after the server's clock jumps.
SLACK = timedelta(seconds=5)


def assert_at(event: TicketEvent, instant: datetime) -> None:
    assert instant <= event.at < instant + SLACK, (event.kind, event.at, instant)


async def history(stack: Stack, ticket_id: str) -> list[TicketEvent]:
    events = await stack.db_history(ticket_id)
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    return events


async def test_p1_unacknowledged_climbs_ladder(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P1))
        start = await settle(stack, handle)
        registered = start.created_at

        await advance(stack, timedelta(hours=2))
        final = await settle(stack, handle)
        events = await history(stack, final.id)

        breaches = events_of(events, EventKind.SLA_BREACHED)
        assert [b.details["clock"] for b in breaches] == ["first_response"]
        assert_at(breaches[0], registered + timedelta(minutes=15))

        escalations = events_of(events, EventKind.ESCALATED)
        assert [e.details["level"] for e in escalations] == [1, 2, 3, 4, 5]
        assert {e.details["trigger"] for e in escalations} == {"p1_unacknowledged"}
        # Level 1 at 10m unacknowledged, then the ladder's 15m and 30m
        # steps, then every 30m until the maximum level 5.
        for escalation, offset in zip(escalations, (10, 25, 55, 85, 115), strict=True):
            assert_at(escalation, registered + timedelta(minutes=offset))

        # Levels 2 to 5 reassign. Levels 2 and 3 go through the whole DevOps
        # pool, and no step leaves the ticket with the same specialist.
        reassignments = [
            e for e in events_of(events, EventKind.ASSIGNED) if e.details["previous"]
        ]
        assert len(reassignments) == 4
        chain = [start.assignee.id] + [r.details["assignee"] for r in reassignments]
        assert set(chain[:3]) == DEVOPS
        for before, after in zip(chain, chain[1:], strict=False):
            assert before != after

        sent = events_of(events, EventKind.NOTIFICATION_SENT)
        paged = [e for e in sent if e.details["recipient"] == "role:support_manager"]
        assert len(paged) == 4
        assert {tuple(e.details["recipients"]) for e in paged} == {("mgr.gus",)}
        stored = await stack.db_notifications(final.id)
        assert sum(n.recipient == "role:support_manager" for n in stored) == 4

        assert final.escalation_level == 5
        assert final.sla_state == SlaState.BREACHED
        assert final.assignee is not None
        assert final.assignee.id == chain[-1]
        record = await stack.db_ticket(final.id)
        assert record is not None
        assert comparable(record.snapshot) == comparable(final)


async def test_breach_starts_ladder_and_acknowledge_stops_it(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P2))
        start = await settle(stack, handle)
        registered = start.created_at

        await advance(stack, timedelta(minutes=31))
        breached = await settle(stack, handle)
        acknowledged = await act(handle, ActionName.ACKNOWLEDGE, "dev.ada")
        await advance(stack, timedelta(hours=1))
        final = await settle(stack, handle)
        events = await history(stack, final.id)

        breach = events_of(events, EventKind.SLA_BREACHED)
        assert len(breach) == 1
        assert_at(breach[0], registered + timedelta(minutes=30))
        escalations = events_of(events, EventKind.ESCALATED)
        assert [e.details["level"] for e in escalations] == [1]
        assert escalations[0].details["trigger"] == "breach:first_response"
        assert_at(escalations[0], registered + timedelta(minutes=30))

        assert breached.sla_state == SlaState.BREACHED
        assert acknowledged.stage == Stage.DIAGNOSTICS
        assert acknowledged.first_response.met_at is not None
        assert acknowledged.first_response.breached
        assert final.escalation_level == 1
        assert (
            events_of(events, EventKind.ACKNOWLEDGED)[0].details[
                "stopped_escalation_level"
            ]
            == 1
        )


async def test_warnings_fire_at_thresholds(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P2))
        start = await settle(stack, handle)
        registered = start.created_at

        await advance(stack, timedelta(minutes=28))
        warned = await settle(stack, handle)
        events = await history(stack, warned.id)
        description = await handle.describe()

        warnings = events_of(events, EventKind.SLA_WARNING)
        assert [(w.details["clock"], w.details["threshold"]) for w in warnings] == [
            ("first_response", 0.75),
            ("first_response", 0.9),
        ]
        # 75% and 90% of the P2 first response target of 30 minutes.
        assert_at(warnings[0], registered + timedelta(minutes=22, seconds=30))
        assert_at(warnings[1], registered + timedelta(minutes=27))
        assert events_of(events, EventKind.SLA_BREACHED) == []
        assert warned.sla_state == SlaState.AT_RISK
        assert warned.first_response.warnings == [0.75, 0.9]
        sla = description.typed_search_attributes.get(keys.TICKET_SLA_STATE)
        assert sla == SlaState.AT_RISK.value
        recipients = {
            e.details["recipient"]
            for e in events_of(events, EventKind.NOTIFICATION_SENT)
            if e.details["kind"] == "sla_warning"
        }
        assert recipients == {start.assignee.id}


async def test_hold_shifts_due_times(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P1))
        start = await settle(stack, handle)
        registered = start.created_at
        due_before = start.resolution.due_at
        await act(handle, ActionName.ACKNOWLEDGE)
        await advance(stack, timedelta(minutes=30))

        held = await act(
            handle, ActionName.HOLD, reason=HoldReason.WAITING_FOR_PROVIDER
        )
        # Five hours on hold: past the 4h resolution target if it counted.
        await advance(stack, timedelta(hours=5))
        still_held = await settle(stack, handle)
        resumed = await act(handle, ActionName.RESUME)
        hold_time = resumed.updated_at - held.updated_at
        await advance(stack, timedelta(hours=3))
        warned = await settle(stack, handle)
        events = await history(stack, warned.id)

        assert held.on_hold
        assert held.sla_state == SlaState.PAUSED
        assert held.resolution.paused
        assert held.resolution.due_at is None
        assert (
            still_held.resolution.remaining_seconds == held.resolution.remaining_seconds
        )
        assert events_of(events, EventKind.SLA_BREACHED) == []
        assert hold_time >= timedelta(hours=5)
        assert due_before is not None
        assert resumed.resolution.due_at == due_before + hold_time
        assert resumed.sla_state == SlaState.ON_TRACK
        warnings = events_of(events, EventKind.SLA_WARNING)
        assert len(warnings) == 1
        assert_at(warnings[0], registered + timedelta(hours=3) + hold_time)
        resume_event = events_of(events, EventKind.RESUME)[0]
        assert resume_event.details["reason"] == HoldReason.WAITING_FOR_PROVIDER.value
        # The event rounds the hold to milliseconds.
        assert resume_event.details["held_seconds"] == pytest.approx(
            hold_time.total_seconds(), abs=0.001
        )


async def test_priority_raise_keeps_time_spent(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P3))
        start = await settle(stack, handle)
        registered = start.created_at

        await advance(stack, timedelta(minutes=20))
        raised = await act(handle, ActionName.CHANGE_PRIORITY, priority=Priority.P1)
        final = await settle(stack, handle)
        events = await history(stack, final.id)

        assert start.first_response.due_at == registered + timedelta(hours=2)
        assert raised.priority == Priority.P1
        # The clocks keep their start: 20 minutes are already spent.
        assert raised.first_response.due_at == registered + timedelta(minutes=15)
        assert raised.resolution.due_at == registered + timedelta(hours=4)
        assert raised.first_response.started_at == start.first_response.started_at
        change = events_of(events, EventKind.PRIORITY_CHANGED)[0]
        assert (change.details["from"], change.details["to"]) == ("P3", "P1")
        # Past the new 15m target, the clock breaches at once, with no stale
        # warnings first, and the P1 ladder starts.
        after_change = [e for e in events if e.seq > change.seq]
        kinds = [e.kind for e in after_change]
        assert EventKind.SLA_WARNING not in kinds
        breach = events_of(after_change, EventKind.SLA_BREACHED)
        assert len(breach) == 1
        assert (
            breach[0].details["due_at"]
            == (registered + timedelta(minutes=15)).isoformat()
        )
        assert events_of(after_change, EventKind.ESCALATED)[0].details["level"] == 1
        assert final.sla_state == SlaState.BREACHED
        description = await handle.describe()
        priority = description.typed_search_attributes.get(keys.TICKET_PRIORITY)
        assert priority == "P1"


async def resolve(handle: WorkflowHandle[Any, Any], actor: str = "dev.ada") -> None:
    await act(handle, ActionName.DIAGNOSE, actor, note="stale DNS cache")
    await act(handle, ActionName.SUBMIT_FIX, actor, note="flushed the cache")
    await act(handle, ActionName.VERIFY, actor, passed=True)


async def test_reopen_twice_escalates_then_autocloses(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P3))
        start = await settle(stack, handle)
        await act(handle, ActionName.ACKNOWLEDGE)
        await resolve(handle)
        first_reopen = await act(handle, ActionName.REOPEN, note="still dropping")
        await resolve(handle)
        second_reopen = await act(handle, ActionName.REOPEN, note="dropping again")
        stopped = await act(handle, ActionName.ACKNOWLEDGE)
        await resolve(handle)
        resolved = await settle(stack, handle)

        await advance(stack, timedelta(hours=71))
        open_at_71h = await settle(stack, handle)
        await advance(stack, timedelta(hours=2))
        closed = await handle.result()
        events = await history(stack, closed.id)

        assert first_reopen.stage == Stage.DIAGNOSTICS
        assert first_reopen.reopen_count == 1
        assert first_reopen.resolution.cycle == 2
        assert first_reopen.escalation_level == 0
        assert second_reopen.reopen_count == 2
        assert second_reopen.escalation_level == 1
        escalation = events_of(events, EventKind.ESCALATED)
        assert len(escalation) == 1
        assert escalation[0].details["trigger"] == "reopened"
        assert stopped.stage == Stage.DIAGNOSTICS
        assert resolved.stage == Stage.RESOLVED
        assert resolved.resolution.cycle == 3
        assert resolved.reopen_window_ends_at == resolved.resolved_at + (
            DEFAULT_POLICY.reopen_window
        )
        assert open_at_71h.stage == Stage.RESOLVED
        assert closed.stage == Stage.CLOSED
        assert closed.sla_state == SlaState.MET
        closing = events[-1]
        assert closing.kind == EventKind.CLOSED
        assert closing.actor == "system"
        assert_at(closing, resolved.reopen_window_ends_at)
        assert start.assignee is not None
        record = await stack.db_ticket(closed.id)
        assert record is not None
        assert record.stage == Stage.CLOSED
        assert record.last_seq == len(events)


async def test_queued_ticket_assigned_by_ladder(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(
            intake(
                type=TicketType.PAYMENT_ISSUE,
                category=Category.PAYMENT,
                priority=Priority.P2,
                title="Deposits stuck in pending",
            )
        )
        queued = await settle(stack, handle)
        description = await handle.describe()
        await stack.set_specialist(
            SpecialistModel(
                id="back.eve",
                name="Eve Backend",
                roles=[Role.BACKEND_DEVELOPER],
                on_shift=True,
            )
        )
        await advance(stack, timedelta(minutes=16))
        assigned = await settle(stack, handle)
        events = await history(stack, assigned.id)

        assert queued.stage == Stage.CLASSIFIED
        assert queued.assignee is None
        assert queued.queue_role == Role.BACKEND_DEVELOPER
        assignee = description.typed_search_attributes.get(keys.TICKET_ASSIGNEE)
        assert assignee == "unassigned"
        assert [e.kind for e in events[:4]] == [
            EventKind.REGISTERED,
            EventKind.CLASSIFIED,
            EventKind.QUEUED,
            EventKind.ESCALATED,
        ]
        escalations = events_of(events, EventKind.ESCALATED)
        assert [e.details["trigger"] for e in escalations] == ["unassigned"] * 2
        # Nobody of the role was on shift for the first step's page.
        failed = events_of(events, EventKind.NOTIFICATION_FAILED)
        assert failed[0].details["recipient"] == "role:backend_developer"
        assert assigned.stage == Stage.ASSIGNED
        assert assigned.assignee is not None
        assert assigned.assignee.id == "back.eve"
        assert assigned.queue_role is None


async def test_reassign_unknown_specialist_not_found(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P3))
        before = await settle(stack, handle)

        with pytest.raises(WorkflowUpdateFailedError) as failure:
            await act(handle, ActionName.REASSIGN, assignee="nobody.here")
        after = await settle(stack, handle)
        moved = await act(handle, ActionName.REASSIGN, "mgr.gus", assignee="dev.cy")

        cause = failure.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "NotFound"
        assert "nobody.here" in cause.message
        assert after.last_seq == before.last_seq
        assert moved.assignee is not None
        assert moved.assignee.id == "dev.cy"
        assert moved.stage == Stage.ASSIGNED


async def test_reclassify_reroutes_to_new_role(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P3))
        start = await settle(stack, handle)
        await act(handle, ActionName.ACKNOWLEDGE)

        moved = await act(
            handle,
            ActionName.RECLASSIFY,
            type=TicketType.INTEGRATION_ISSUE,
            category=Category.API_INTEGRATION,
            priority=Priority.P2,
            note="the provider's API returns 502",
        )
        events = await history(stack, moved.id)

        assert start.assignee is not None
        assert start.assignee.role == Role.DEVOPS_ENGINEER
        assert moved.category == Category.API_INTEGRATION
        assert moved.type == TicketType.INTEGRATION_ISSUE
        assert moved.priority == Priority.P2
        assert moved.classification is not None
        assert moved.classification.source == "engineer"
        assert moved.assignee is not None
        assert moved.assignee.id == "int.fay"
        assert moved.stage == Stage.DIAGNOSTICS
        assert moved.resolution.due_at == start.created_at + timedelta(hours=8)
        change = events_of(events, EventKind.RECLASSIFIED)[0]
        assert change.details["changes"]["category"] == {
            "from": "infrastructure",
            "to": "api_integration",
        }
        assert events[-1].kind in (EventKind.ASSIGNED, EventKind.NOTIFICATION_SENT)


async def test_rejected_notification_recorded_as_failed(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    # The receiver rejects the first request (HTTP 400, not retried) and
    # fails the second with a 503 before accepting its retry.
    with webhook_receiver(Reply(400), Reply(503), Reply(200)) as receiver:
        async with ticket_stack(
            time_env,
            tmp_path,
            unique_task_queue,
            notification_channel="webhook",
            webhook_url=receiver.url,
            webhook_secret="test-secret",
        ) as stack:
            handle = await stack.start(intake(priority=Priority.P3))
            await settle(stack, handle)
            reassigned = await act(handle, ActionName.REASSIGN, assignee="dev.cy")

            async def delivered() -> list[TicketEvent]:
                events = await history(stack, reassigned.id)
                return events_of(events, EventKind.NOTIFICATION_SENT)

            # The retry comes after the policy's 2s initial interval.
            await wait_for(delivered, what="the retried notification")
            events = await history(stack, reassigned.id)

    failed = events_of(events, EventKind.NOTIFICATION_FAILED)
    sent = events_of(events, EventKind.NOTIFICATION_SENT)
    assert len(failed) == 1
    assert failed[0].details["kind"] == "assigned"
    assert "HTTP 400" in failed[0].details["error"]
    assert len(sent) == 1
    assert sent[0].details["recipient"] == "dev.cy"
    assert sent[0].details["attempts"] == 2
    assert reassigned.stage == Stage.ASSIGNED
    assert len(receiver.requests) == 3


async def test_hold_pauses_ladder_and_escalate_steps_now(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(intake(priority=Priority.P1))
        await settle(stack, handle)
        # The P1 ladder starts at 10m; its level 2 is due 15m later.
        await advance(stack, timedelta(minutes=12))
        held = await act(
            handle, ActionName.HOLD, reason=HoldReason.WAITING_FOR_THIRD_PARTY
        )
        await advance(stack, timedelta(hours=1))
        during_hold = await settle(stack, handle)
        resumed = await act(handle, ActionName.RESUME)
        escalated = await act(handle, ActionName.ESCALATE, "mgr.gus", note="VIP")
        await advance(stack, timedelta(minutes=31))
        final = await settle(stack, handle)
        events = await history(stack, final.id)

    assert held.escalation_level == 1
    assert during_hold.escalation_level == 1
    assert during_hold.last_seq == held.last_seq
    assert escalated.escalation_level == 2
    escalations = events_of(events, EventKind.ESCALATED)
    assert [(e.details["level"], e.details["trigger"]) for e in escalations] == [
        (1, "p1_unacknowledged"),
        (2, "escalate"),
        (3, "p1_unacknowledged"),
    ]
    assert escalations[1].details["reason"] == "escalated by mgr.gus: VIP"
    # After a manual step the ladder goes on from it: level 3 comes the
    # ladder's 30m after level 2.
    assert_at(escalations[2], escalations[1].at + timedelta(minutes=30))
    # The first response clock had about 3 of its 15 minutes left at the
    # hold, and breaches that long after the resume.
    left = timedelta(seconds=held.first_response.remaining_seconds)
    assert timedelta(minutes=2) < left <= timedelta(minutes=3)
    breach = events_of(events, EventKind.SLA_BREACHED)[0]
    # (less a millisecond, the rounding of remaining_seconds)
    assert_at(breach, resumed.updated_at + left - timedelta(milliseconds=1))


async def test_security_ticket_pages_managers(
    time_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> None:
    async with ticket_stack(time_env, tmp_path, unique_task_queue) as stack:
        handle = await stack.start(
            intake(
                type=TicketType.SECURITY_ALERT,
                category=Category.SECURITY,
                priority=Priority.P2,
                title="Repeated failed admin logins from one address",
            )
        )
        assigned = await settle(stack, handle)

        async def both_sent() -> list[TicketEvent]:
            events = await history(stack, assigned.id)
            sent = events_of(events, EventKind.NOTIFICATION_SENT)
            return sent if len(sent) == 2 else []

        sent = await wait_for(both_sent, what="two assignment notifications")

    assert assigned.assignee is not None
    assert assigned.assignee.role == Role.DEVOPS_ENGINEER
    recipients = {event.details["recipient"] for event in sent}
    assert recipients == {assigned.assignee.id, "role:support_manager"}
    assert {event.details["kind"] for event in sent} == {"assigned"}
