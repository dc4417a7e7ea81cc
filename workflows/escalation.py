"""SLA clocks and the escalation ladder of a ticket, in its workflow.

The main loop of `TicketWorkflow` calls these methods when a deadline from
`workflows.deadlines` passes; actions call them to escalate at once or to
stop the ladder.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.assignment import TicketAssignment
from workflows.projection import SYSTEM_ACTOR

with workflow.unsafe.imports_passed_through():
    from helpdesk.domain import ClockName, EventKind, Role
    from helpdesk.sla import EscalationStep
    from workflows import sla_clock
    from workflows.sla_clock import SignalKind

MANAGERS = f"role:{Role.SUPPORT_MANAGER.value}"


class TicketEscalation(TicketAssignment):
    """SLA warnings and breaches, and the steps of the escalation ladder."""

    async def _report_clock(self, name: ClockName) -> None:
        clock = self._state.clock(name)
        thresholds = self._policy.warning_thresholds
        now = workflow.now()
        signal = sla_clock.due_signal(clock, thresholds, now)
        if signal is None:
            return
        sla_clock.mark_reported(clock, signal, thresholds, now)
        details: dict[str, Any] = {
            "clock": name.value,
            "priority": clock.priority.value,
            "due_at": clock.due_at().isoformat(),
            "cycle": clock.cycle,
        }
        if signal.kind == SignalKind.WARNING:
            details["threshold"] = signal.threshold
            details["remaining_seconds"] = round(clock.remaining_seconds(now), 3)
            event = self._append(EventKind.SLA_WARNING, SYSTEM_ACTOR, details)
            self._notify_assignee(event, "sla_warning")
            self._log(
                "ticket.sla.warning", clock=name.value, threshold=signal.threshold
            )
            return

        details["late_seconds"] = round((now - signal.at).total_seconds(), 3)
        event = self._append(EventKind.SLA_BREACHED, SYSTEM_ACTOR, details)
        self._notify_assignee(event, "sla_breached")
        self._warn("ticket.sla.breached", clock=name.value)
        label = name.value.replace("_", " ")
        self._start_escalation(f"breach:{name.value}", f"{label} SLA breached")

    def _start_escalation(self, trigger: str, reason: str) -> None:
        """Start the ladder on an automatic trigger, unless it is already running.

        The first step comes `steps[0].after` later (at once by default);
        the main loop takes it when its instant passes.
        """
        escalation = self._state.escalation
        if escalation.active or escalation.level >= self._policy.escalation.max_level:
            return
        self._begin_ladder_run(trigger, reason)
        self._schedule_next_step(self._policy.escalation.steps[0].after)

    async def _escalate_now(
        self, trigger: str, reason: str, actor: str = SYSTEM_ACTOR
    ) -> None:
        """Take one step up the ladder now, and keep the ladder running."""
        if not self._state.escalation.active:
            self._begin_ladder_run(trigger, reason)
        await self._escalation_step(trigger, reason, actor)

    def _begin_ladder_run(self, trigger: str, reason: str) -> None:
        escalation = self._state.escalation
        escalation.active = True
        escalation.trigger = trigger
        escalation.reason = reason
        escalation.passed_over = []

    def _schedule_next_step(self, after: timedelta) -> None:
        escalation = self._state.escalation
        if self._state.on_hold:
            escalation.next_step_at = None
            escalation.paused_remaining_seconds = after.total_seconds()
        else:
            escalation.next_step_at = workflow.now() + after
            escalation.paused_remaining_seconds = None

    def _stop_escalation(self) -> None:
        escalation = self._state.escalation
        escalation.active = False
        escalation.next_step_at = None
        escalation.paused_remaining_seconds = None

    def _ladder_step(self, level: int) -> EscalationStep:
        steps = self._policy.escalation.steps
        return steps[min(level, len(steps)) - 1]

    async def _escalation_step(
        self,
        trigger: str | None = None,
        reason: str | None = None,
        actor: str = SYSTEM_ACTOR,
    ) -> None:
        """Climb one level: record it, notify, reassign, page the managers.

        `trigger` and `reason` name what caused this step when it is not the
        trigger that started the ladder run (an escalate action or a reopen
        while the ladder runs).
        """
        state = self._state
        escalation = state.escalation
        policy = self._policy.escalation
        escalation.level += 1
        level = escalation.level
        step = self._ladder_step(level)
        before = state.assignee
        event = self._append(
            EventKind.ESCALATED,
            actor,
            {
                "level": level,
                "trigger": trigger or escalation.trigger,
                "reason": reason or escalation.reason,
                "reassign": step.reassign,
                "notify_managers": step.notify_managers,
                "assignee": before.id if before else None,
            },
        )
        self._log(
            "ticket.escalated", level=level, trigger=trigger or escalation.trigger
        )
        self._notify_assignee(event, "escalated")

        # An unassigned ticket retries assignment at every step; an assigned
        # one moves to another specialist of its role when the step has `reassign`.
        if before is None:
            result = await self._assign()
            if result.assignee is not None:
                self._take_assignment(result, SYSTEM_ACTOR)
        elif step.reassign:
            await self._reassign_up_the_ladder(before.id)
        if step.notify_managers:
            self._notify(event, MANAGERS, "escalated", MANAGERS)

        if level >= policy.max_level:
            self._stop_escalation()
            if state.assignee is None:
                state.assignment_retry_at = workflow.now() + policy.repeat_every
            return
        if level < len(policy.steps):
            self._schedule_next_step(policy.steps[level].after)
        else:
            self._schedule_next_step(policy.repeat_every)

    async def _reassign_up_the_ladder(self, current: str) -> None:
        """Move the ticket to an on-shift specialist it has not been with yet.

        Once everyone of the role has had it in this ladder run, the choice
        starts over, excluding only the current assignee.
        """
        passed_over = self._state.escalation.passed_over
        if current not in passed_over:
            passed_over.append(current)
        result = await self._assign(exclude=list(passed_over))
        if result.assignee is None and len(passed_over) > 1:
            result = await self._assign(exclude=[current])
        if result.assignee is not None:
            self._take_assignment(result, SYSTEM_ACTOR)
        else:
            self._log("ticket.escalation.no_reassignment", reason=result.reason)
