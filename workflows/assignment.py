"""Classification and assignment of a ticket, in its workflow.

The `classify_ticket` and `assign_specialist` activities do the work, and
this module decides when to call them and records what they return.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.notifications import TicketNotifications
from workflows.projection import SYSTEM_ACTOR

with workflow.unsafe.imports_passed_through():
    from helpdesk.contracts import (
        ASSIGN_SPECIALIST,
        CLASSIFY_TICKET,
        AssignInput,
        AssignResult,
        ClassifyInput,
    )
    from helpdesk.domain import (
        Category,
        Classification,
        EventKind,
        Priority,
        Stage,
    )
    from workflows import rules, sla_clock

CLASSIFY_TIMEOUT = timedelta(seconds=60)
ASSIGN_TIMEOUT = timedelta(seconds=10)

# The classifier is local code: after a few failures the ticket goes on with
# the reporter's values and a flag for manual triage instead of waiting.
CLASSIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
)
# Assignment needs the database: retry until it is back.
ASSIGN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[rules.NOT_FOUND],
)


class TicketAssignment(TicketNotifications):
    """Classification, SLA targets by priority, and specialist assignment."""

    async def _classify(self) -> Classification:
        intake = self._input.intake
        try:
            return await workflow.execute_activity(
                CLASSIFY_TICKET,
                ClassifyInput(ticket_id=self._ticket_id, intake=intake),
                result_type=Classification,
                start_to_close_timeout=CLASSIFY_TIMEOUT,
                retry_policy=CLASSIFY_RETRY,
                summary="classify ticket",
            )
        except ActivityError as err:
            self._warn("ticket.classification.failed", error=str(err))
            return Classification(
                type=intake.type or self._state.type,
                category=intake.category or self._state.category,
                priority=intake.priority or self._state.priority,
                confidence=0.0,
                reasons=[f"classifier failed: {err.cause or err}"],
                needs_triage=True,
                source="fallback",
            )

    def _apply_classification(self, classification: Classification) -> None:
        state = self._state
        state.classification = classification
        state.type = classification.type
        state.category = classification.category
        if classification.priority != state.priority:
            self._retarget_clocks(classification.priority)

    def _retarget_clocks(self, priority: Priority) -> None:
        self._state.priority = priority
        targets = self._policy.targets(priority)
        sla_clock.retarget(self._state.first_response, priority, targets.first_response)
        sla_clock.retarget(self._state.resolution, priority, targets.resolution)

    async def _assign(
        self,
        *,
        specialist_id: str | None = None,
        exclude: list[str] | None = None,
        category: Category | None = None,
    ) -> AssignResult:
        summary = self._assignment_summary(category, specialist_id)
        category = category or self._state.category
        return await workflow.execute_activity(
            ASSIGN_SPECIALIST,
            AssignInput(
                ticket_id=self._ticket_id,
                category=category,
                priority=self._state.priority,
                specialist_id=specialist_id,
                exclude=exclude or [],
            ),
            result_type=AssignResult,
            start_to_close_timeout=ASSIGN_TIMEOUT,
            retry_policy=ASSIGN_RETRY,
            summary=summary,
        )

    def _assignment_summary(
        self, new_category: Category | None, specialist_id: str | None
    ) -> str:
        """Return the activity label, such as `assign specialist: payment -> ...`.

        The role is known only once routing has chosen it for the ticket's
        current category; a first assignment or a re-route shows the
        category alone.
        """
        state = self._state
        category = (new_category or state.category).value
        if specialist_id is not None:
            return f"assign specialist: {category} -> {specialist_id}"
        role = state.assignee.role if state.assignee else state.queue_role
        if new_category is not None or role is None:
            return f"assign specialist: {category}"
        return f"assign specialist: {category} -> {role.value}"

    def _take_assignment(self, result: AssignResult, actor: str) -> None:
        """Record a new assignee, move a queued ticket to assigned, notify."""
        assert result.assignee is not None
        state = self._state
        previous = state.assignee
        state.assignee = result.assignee
        state.queue_role = None
        state.assignment_retry_at = None
        details: dict[str, Any] = {
            "assignee": result.assignee.id,
            "role": result.role.value,
            "previous": previous.id if previous else None,
            "reason": result.reason,
        }
        if state.stage == Stage.CLASSIFIED:
            state.stage = Stage.ASSIGNED
            details["stage"] = Stage.ASSIGNED.value
        event = self._append(EventKind.ASSIGNED, actor, details)
        self._log(
            "ticket.assigned", assignee=result.assignee.id, role=result.role.value
        )
        self._notify(event, result.assignee.id, "assigned", "assignee")
        for role in result.also_notify:
            self._notify(event, f"role:{role.value}", "assigned", f"role:{role.value}")

    def _queue(self, result: AssignResult) -> None:
        self._state.queue_role = result.role
        self._append(
            EventKind.QUEUED,
            SYSTEM_ACTOR,
            {"role": result.role.value, "reason": result.reason},
        )
        self._log("ticket.queued", role=result.role.value)

    async def _retry_assignment(self) -> None:
        """Try again to assign a queued ticket whose ladder has ended."""
        self._state.assignment_retry_at = None
        result = await self._assign()
        if result.assignee is not None:
            self._take_assignment(result, SYSTEM_ACTOR)
        else:
            self._state.assignment_retry_at = (
                workflow.now() + self._policy.escalation.repeat_every
            )
