"""The effect of each ticket action, in the ticket workflow.

`TicketWorkflow` declares one Workflow Update per `ActionName` and runs the
matching method here under its lock, after the request has passed
validation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.escalation import TicketEscalation
from workflows.projection import SYSTEM_ACTOR

with workflow.unsafe.imports_passed_through():
    from helpdesk.contracts import ActionRequest
    from helpdesk.domain import (
        Category,
        Classification,
        ClockName,
        EventKind,
        Priority,
        Stage,
        TicketEvent,
        TicketType,
    )
    from workflows import rules, sla_clock


class TicketActions(TicketEscalation):
    """Stage changes, holds, reassignment, priority and the other actions."""

    def _change_stage(
        self, request: ActionRequest, kind: EventKind, to: Stage, **details: Any
    ) -> TicketEvent:
        before = self._state.stage
        self._state.stage = to
        event = self._append(
            kind,
            request.actor,
            {"from": before.value, "to": to.value, "note": request.note, **details},
        )
        self._log("ticket.stage.changed", before=before.value, after=to.value)
        return event

    async def _acknowledge(self, request: ActionRequest) -> None:
        state = self._state
        now = workflow.now()
        stopped = state.escalation.level if state.escalation.active else None
        self._stop_escalation()
        if state.stage != Stage.ASSIGNED:
            self._append(
                EventKind.ACKNOWLEDGED,
                request.actor,
                {
                    "stage": state.stage.value,
                    "stopped_escalation_level": stopped,
                    "note": request.note,
                },
            )
            return
        first_response = state.first_response
        sla_clock.meet(first_response, now)
        state.first_response_at = now
        self._change_stage(
            request,
            EventKind.ACKNOWLEDGED,
            Stage.DIAGNOSTICS,
            first_response_breached=first_response.breached,
            stopped_escalation_level=stopped,
        )

    async def _move_stage(self, request: ActionRequest) -> None:
        to = rules.target_stage(request.action, request)
        assert to is not None
        self._change_stage(request, EventKind.STAGE_CHANGED, to)

    async def _verify(self, request: ActionRequest) -> None:
        if not request.passed:
            self._change_stage(
                request, EventKind.STAGE_CHANGED, Stage.CORRECTION, passed=False
            )
            return
        state = self._state
        now = workflow.now()
        resolution = state.resolution
        sla_clock.meet(resolution, now)
        state.resolved_at = now
        state.reopen_window_ends_at = now + self._policy.reopen_window
        self._stop_escalation()
        state.assignment_retry_at = None
        self._change_stage(
            request,
            EventKind.RESOLVED,
            Stage.RESOLVED,
            passed=True,
            resolution_breached=resolution.breached,
            cycle=resolution.cycle,
            reopen_window_ends_at=state.reopen_window_ends_at.isoformat(),
        )

    async def _close(self, request: ActionRequest) -> None:
        self._close_ticket(request.actor, request.note)

    def _close_ticket(self, actor: str, note: str | None) -> None:
        state = self._state
        before = state.stage
        state.stage = Stage.CLOSED
        state.closed_at = workflow.now()
        self._append(
            EventKind.CLOSED,
            actor,
            {"from": before.value, "to": Stage.CLOSED.value, "note": note},
        )
        self._log("ticket.closed", actor=actor)

    async def _reopen(self, request: ActionRequest) -> None:
        state = self._state
        now = workflow.now()
        state.reopen_count += 1
        targets = self._policy.targets(state.priority)
        sla_clock.restart(state.resolution, state.priority, targets.resolution, now)
        state.resolved_at = None
        state.reopen_window_ends_at = None
        self._change_stage(
            request,
            EventKind.REOPENED,
            Stage.DIAGNOSTICS,
            reopen_count=state.reopen_count,
            cycle=state.resolution.cycle,
        )
        needed = self._policy.escalation.reopens_before_escalation
        if (
            state.reopen_count >= needed
            and state.escalation.level < self._policy.escalation.max_level
        ):
            await self._escalate_now("reopened", f"reopened {state.reopen_count} times")

    async def _hold(self, request: ActionRequest) -> None:
        state = self._state
        now = workflow.now()
        assert request.reason is not None
        state.on_hold = True
        state.hold_reason = request.reason
        state.hold_started_at = now
        for clock in state.clocks():
            sla_clock.pause(clock, now)
        escalation = state.escalation
        if escalation.next_step_at is not None:
            left = (escalation.next_step_at - now).total_seconds()
            escalation.paused_remaining_seconds = max(left, 0.0)
            escalation.next_step_at = None
        self._append(
            EventKind.HOLD,
            request.actor,
            {"reason": request.reason.value, "note": request.note},
        )

    async def _resume(self, request: ActionRequest) -> None:
        state = self._state
        now = workflow.now()
        for clock in state.clocks():
            sla_clock.resume(clock, now)
        escalation = state.escalation
        if escalation.paused_remaining_seconds is not None:
            escalation.next_step_at = now + timedelta(
                seconds=escalation.paused_remaining_seconds
            )
            escalation.paused_remaining_seconds = None
        reason = state.hold_reason
        held = (now - (state.hold_started_at or now)).total_seconds()
        state.on_hold = False
        state.hold_reason = None
        state.hold_started_at = None
        self._append(
            EventKind.RESUME,
            request.actor,
            {
                "reason": reason.value if reason else None,
                "held_seconds": round(held, 3),
                "note": request.note,
            },
        )

    async def _reassign(self, request: ActionRequest) -> None:
        assert request.assignee is not None
        try:
            result = await self._assign(specialist_id=request.assignee)
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == rules.NOT_FOUND:
                raise ApplicationError(
                    f"cannot reassign: specialist {request.assignee!r} not found",
                    type=rules.NOT_FOUND,
                    non_retryable=True,
                ) from err
            raise
        if result.assignee is None:
            raise ApplicationError(
                f"cannot reassign to {request.assignee!r}: {result.reason}",
                type=rules.NOT_FOUND,
                non_retryable=True,
            )
        self._take_assignment(result, request.actor)

    async def _escalate(self, request: ActionRequest) -> None:
        reason = f"escalated by {request.actor}"
        if request.note:
            reason += f": {request.note}"
        await self._escalate_now("escalate", reason, request.actor)

    async def _change_priority(self, request: ActionRequest) -> None:
        assert request.priority is not None
        before = self._state.priority
        self._retarget_clocks(request.priority)
        self._append(
            EventKind.PRIORITY_CHANGED,
            request.actor,
            {
                "from": before.value,
                "to": request.priority.value,
                "note": request.note,
                "first_response_due_at": self._due_iso(ClockName.FIRST_RESPONSE),
                "resolution_due_at": self._due_iso(ClockName.RESOLUTION),
            },
        )

    def _due_iso(self, name: ClockName) -> str | None:
        clock = self._state.clock(name)
        if clock.met or clock.paused:
            return None
        return clock.due_at().isoformat()

    async def _reclassify(self, request: ActionRequest) -> None:
        state = self._state
        changes: dict[str, dict[str, str]] = {}
        new_type: TicketType = request.type or state.type
        new_category: Category = request.category or state.category
        new_priority: Priority = request.priority or state.priority
        for field, before, after in (
            ("type", state.type, new_type),
            ("category", state.category, new_category),
            ("priority", state.priority, new_priority),
        ):
            if before != after:
                changes[field] = {"from": before.value, "to": after.value}

        reasons = [f"reclassified by {request.actor}"]
        if request.note:
            reasons.append(request.note)
        self._apply_classification(
            Classification(
                type=new_type,
                category=new_category,
                priority=new_priority,
                confidence=1.0,
                reasons=reasons,
                source="engineer",
            )
        )
        self._append(
            EventKind.RECLASSIFIED,
            request.actor,
            {"changes": changes, "note": request.note},
        )
        if "category" in changes:
            await self._reroute(new_category)

    async def _reroute(self, category: Category) -> None:
        """Route the ticket to the role of its new category.

        A current assignee who has that role keeps the ticket. When nobody
        of the new role is free, an assigned ticket stays with its assignee
        and a queued one waits in the new role's queue.
        """
        state = self._state
        result = await self._assign(category=category)
        if state.assignee is not None and state.assignee.role == result.role:
            return
        if result.assignee is not None:
            self._take_assignment(result, SYSTEM_ACTOR)
        elif state.assignee is None:
            self._queue(result)
        else:
            self._log("ticket.reroute.kept_assignee", role=result.role.value)

    async def _comment(self, request: ActionRequest) -> None:
        self._append(EventKind.COMMENT, request.actor, {"note": request.note})
