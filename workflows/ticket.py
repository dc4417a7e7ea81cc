"""The ticket workflow: one durable workflow per support ticket.

A ticket is registered, classified and assigned when the workflow starts.
Engineers then move it through its stages with Workflow Updates (one per
`ActionName`), while the workflow's main loop sleeps on a durable timer
armed at the next SLA warning, breach, escalation step or the end of the
reopen window. Every change appends a `TicketEvent`; the `project_ticket`
activity writes the events and a snapshot to the database before an update
returns.

`TicketWorkflow` is built from layers, each the base class of the next:
`workflows.projection` (shared state, events, projection and logs),
`workflows.notifications`, `workflows.assignment` (classification and
assignment), `workflows.escalation` (SLA clocks and the escalation ladder)
and `workflows.actions` (the effect of each action). The Temporal handlers
(init, run, the query, the updates and their validators) are declared only
on the `@workflow.defn` class in this module, so one file lists every
message the workflow accepts.

Determinism: these modules use only `workflow.now()` for time, keep all
state in `TicketState`, and decide every timer from that state. Changes to
the order of timers, activities or events under running tickets need
`workflow.patched(...)`; this is version 1, so there are no patches yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

# Not passed through: the sandbox re-imports the layers with this module and
# checks them as workflow code.
from workflows.actions import TicketActions
from workflows.projection import SYSTEM_ACTOR

with workflow.unsafe.imports_passed_through():
    from helpdesk.contracts import (
        REPORT_DUPLICATE_UPDATE,
        STATE_QUERY,
        TICKET_WORKFLOW,
        ActionRequest,
        DuplicateReport,
        TicketSnapshot,
        TicketWorkflowInput,
    )
    from helpdesk.domain import ActionName, EventKind, Stage
    from helpdesk.sla import format_duration
    from workflows import rules
    from workflows.deadlines import Deadline, DeadlineKind, next_deadline
    from workflows.state import TicketState, new_state
    from workflows.texts import status_markdown

# A second guard beside the server's continue-as-new suggestion.
HISTORY_LENGTH_LIMIT = 10_000

# Patch ids of changes made under running tickets; see workflow.patched.
DUPLICATE_AFTER_REGISTRATION = "duplicate-after-registration"

ActionHandler = Callable[[ActionRequest], Awaitable[None]]


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _rejection_error(rejection: rules.Rejection) -> ApplicationError:
    return ApplicationError(rejection.message, type=rejection.type, non_retryable=True)


@workflow.defn(name=TICKET_WORKFLOW)
class TicketWorkflow(TicketActions):
    @workflow.init
    def __init__(self, input: TicketWorkflowInput) -> None:
        self._input = input
        self._ticket_id = input.ticket_id
        self._policy = input.policy
        if input.carried is not None:
            self._state = TicketState.model_validate(input.carried)
        else:
            self._state = new_state(
                input.intake, input.policy, _as_utc(input.registered_at)
            )
        # Serialises every change and its projection: update handlers, the
        # main loop's deadlines and notification outcomes take turns.
        self._lock = asyncio.Lock()
        self._notifications: set[asyncio.Task[None]] = set()
        self._actions: dict[ActionName, ActionHandler] = {
            ActionName.ACKNOWLEDGE: self._acknowledge,
            ActionName.DIAGNOSE: self._move_stage,
            ActionName.SUBMIT_FIX: self._move_stage,
            ActionName.VERIFY: self._verify,
            ActionName.CLOSE: self._close,
            ActionName.REOPEN: self._reopen,
            ActionName.HOLD: self._hold,
            ActionName.RESUME: self._resume,
            ActionName.REASSIGN: self._reassign,
            ActionName.ESCALATE: self._escalate,
            ActionName.CHANGE_PRIORITY: self._change_priority,
            ActionName.RECLASSIFY: self._reclassify,
            ActionName.COMMENT: self._comment,
        }

    # ------------------------------------------------------------------
    # Main loop

    @workflow.run
    async def run(self, input: TicketWorkflowInput) -> TicketSnapshot:
        if input.carried is None:
            async with self._lock:
                await self._register()
        else:
            workflow.set_current_details(status_markdown(self._ticket_id, self._state))
            self._log("ticket.run.continued", run_count=self._state.run_count)

        while self._state.stage != Stage.CLOSED:
            async with self._lock:
                await self._fire_due_deadlines()
            if self._state.stage == Stage.CLOSED:
                break
            if self._continue_as_new_due():
                await self._continue_as_new()
            deadline = next_deadline(self._state, self._policy)
            if deadline is not None and deadline.at <= workflow.now():
                continue
            await self._wait_until(deadline)

        await self._drain()
        self._log("ticket.workflow.completed", events=self._state.last_seq)
        return self._snapshot()

    async def _wait_until(self, deadline: Deadline | None) -> None:
        """Sleep until the deadline, or until something moves it.

        The timer is armed only when there is a deadline; whether there is
        one depends on the state alone, so replay arms the same timers.
        """
        armed_at = deadline.at if deadline else None

        def woken() -> bool:
            current = next_deadline(self._state, self._policy)
            return (
                (current.at if current else None) != armed_at
                or self._state.stage == Stage.CLOSED
                or self._continue_as_new_due()
            )

        if deadline is None:
            await workflow.wait_condition(woken)
            return
        try:
            await workflow.wait_condition(
                woken,
                timeout=deadline.at - workflow.now(),
                timeout_summary=deadline.label,
            )
        except TimeoutError:
            pass

    def _continue_as_new_due(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= HISTORY_LENGTH_LIMIT
        )

    async def _drain(self) -> None:
        """Wait for handlers and notifications, and write what is pending."""
        while True:
            await workflow.wait_condition(
                lambda: workflow.all_handlers_finished() and not self._notifications
            )
            if not self._state.pending_events:
                return
            async with self._lock:
                await self._publish()

    async def _continue_as_new(self) -> None:
        await self._drain()
        self._state.run_count += 1
        self._log("ticket.run.continuing_as_new", run_count=self._state.run_count)
        workflow.continue_as_new(
            TicketWorkflowInput(
                ticket_id=self._ticket_id,
                intake=self._input.intake,
                registered_at=self._input.registered_at,
                policy=self._policy,
                carried=self._state.model_dump(mode="json"),
            ),
            search_attributes=workflow.info().typed_search_attributes,
        )

    async def _fire_due_deadlines(self) -> None:
        """Handle every deadline that has passed, in time order."""
        while True:
            deadline = next_deadline(self._state, self._policy)
            if deadline is None or deadline.at > workflow.now():
                return
            if deadline.kind == DeadlineKind.SLA:
                assert deadline.signal is not None
                await self._report_clock(deadline.signal.clock)
            elif deadline.kind == DeadlineKind.P1_UNACKNOWLEDGED:
                self._state.p1_unacknowledged_reported = True
                after = format_duration(self._policy.escalation.p1_unacknowledged_after)
                self._start_escalation(
                    "p1_unacknowledged", f"P1 not acknowledged within {after}"
                )
            elif deadline.kind == DeadlineKind.ESCALATION_STEP:
                await self._escalation_step()
            elif deadline.kind == DeadlineKind.ASSIGNMENT_RETRY:
                await self._retry_assignment()
            elif deadline.kind == DeadlineKind.REOPEN_WINDOW_END:
                window = format_duration(self._policy.reopen_window)
                self._close_ticket(SYSTEM_ACTOR, f"reopen window of {window} ended")
            await self._publish()

    # ------------------------------------------------------------------
    # Registration, classification and first assignment

    async def _register(self) -> None:
        intake = self._input.intake
        self._append(
            EventKind.REGISTERED,
            f"intake:{intake.channel.value}",
            {
                "channel": intake.channel.value,
                "reporter_kind": intake.reporter.kind.value,
                "external_ref": intake.external_ref,
                "registered_at": self._state.created_at.isoformat(),
                "sla_policy_version": self._policy.version,
            },
        )
        self._log("ticket.registered", channel=intake.channel.value)

        classification = await self._classify()
        self._apply_classification(classification)
        self._state.stage = Stage.CLASSIFIED
        self._append(
            EventKind.CLASSIFIED,
            SYSTEM_ACTOR,
            {
                "type": classification.type.value,
                "category": classification.category.value,
                "priority": classification.priority.value,
                "confidence": classification.confidence,
                "reasons": list(classification.reasons),
                "needs_triage": classification.needs_triage,
                "source": classification.source,
                "language": classification.language,
                "stage": Stage.CLASSIFIED.value,
            },
        )
        self._log(
            "ticket.classified",
            type=classification.type.value,
            category=classification.category.value,
            priority=classification.priority.value,
            confidence=classification.confidence,
            needs_triage=classification.needs_triage,
            source=classification.source,
        )
        await self._publish()

        result = await self._assign()
        if result.assignee is not None:
            self._take_assignment(result, SYSTEM_ACTOR)
        else:
            self._queue(result)
            self._start_escalation("unassigned", result.reason)
        await self._publish()

    # ------------------------------------------------------------------
    # Query

    @workflow.query(name=STATE_QUERY)
    def state(self) -> TicketSnapshot:
        return self._snapshot()

    # ------------------------------------------------------------------
    # Updates: each action has its own update and validator.

    def _validate(self, name: ActionName, request: ActionRequest) -> None:
        if self._seen_update():
            return
        rejection = rules.check_action(
            name, request, self._state, self._policy, workflow.now()
        )
        if rejection is not None:
            raise _rejection_error(rejection)

    def _seen_update(self) -> bool:
        info = workflow.current_update_info()
        return info is not None and info.id in self._state.seen_update_ids

    async def _act(self, name: ActionName, request: ActionRequest) -> TicketSnapshot:
        async with self._lock:
            if self._seen_update():
                return self._snapshot()
            # Checked again: an action that held the lock may have moved the
            # ticket since the validator ran.
            self._validate(name, request)
            await self._actions[name](request)
            info = workflow.current_update_info()
            if info is not None:
                self._state.remember_update(info.id)
            await self._publish()
            self._log("ticket.action.applied", action=name.value, actor=request.actor)
            return self._snapshot()

    @workflow.update(name=ActionName.ACKNOWLEDGE.value)
    async def acknowledge(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.ACKNOWLEDGE, request)

    @acknowledge.validator
    def validate_acknowledge(self, request: ActionRequest) -> None:
        self._validate(ActionName.ACKNOWLEDGE, request)

    @workflow.update(name=ActionName.DIAGNOSE.value)
    async def diagnose(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.DIAGNOSE, request)

    @diagnose.validator
    def validate_diagnose(self, request: ActionRequest) -> None:
        self._validate(ActionName.DIAGNOSE, request)

    @workflow.update(name=ActionName.SUBMIT_FIX.value)
    async def submit_fix(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.SUBMIT_FIX, request)

    @submit_fix.validator
    def validate_submit_fix(self, request: ActionRequest) -> None:
        self._validate(ActionName.SUBMIT_FIX, request)

    @workflow.update(name=ActionName.VERIFY.value)
    async def verify(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.VERIFY, request)

    @verify.validator
    def validate_verify(self, request: ActionRequest) -> None:
        self._validate(ActionName.VERIFY, request)

    @workflow.update(name=ActionName.CLOSE.value)
    async def close(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.CLOSE, request)

    @close.validator
    def validate_close(self, request: ActionRequest) -> None:
        self._validate(ActionName.CLOSE, request)

    @workflow.update(name=ActionName.REOPEN.value)
    async def reopen(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.REOPEN, request)

    @reopen.validator
    def validate_reopen(self, request: ActionRequest) -> None:
        self._validate(ActionName.REOPEN, request)

    @workflow.update(name=ActionName.HOLD.value)
    async def hold(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.HOLD, request)

    @hold.validator
    def validate_hold(self, request: ActionRequest) -> None:
        self._validate(ActionName.HOLD, request)

    @workflow.update(name=ActionName.RESUME.value)
    async def resume(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.RESUME, request)

    @resume.validator
    def validate_resume(self, request: ActionRequest) -> None:
        self._validate(ActionName.RESUME, request)

    @workflow.update(name=ActionName.REASSIGN.value)
    async def reassign(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.REASSIGN, request)

    @reassign.validator
    def validate_reassign(self, request: ActionRequest) -> None:
        self._validate(ActionName.REASSIGN, request)

    @workflow.update(name=ActionName.ESCALATE.value)
    async def escalate(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.ESCALATE, request)

    @escalate.validator
    def validate_escalate(self, request: ActionRequest) -> None:
        self._validate(ActionName.ESCALATE, request)

    @workflow.update(name=ActionName.CHANGE_PRIORITY.value)
    async def change_priority(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.CHANGE_PRIORITY, request)

    @change_priority.validator
    def validate_change_priority(self, request: ActionRequest) -> None:
        self._validate(ActionName.CHANGE_PRIORITY, request)

    @workflow.update(name=ActionName.RECLASSIFY.value)
    async def reclassify(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.RECLASSIFY, request)

    @reclassify.validator
    def validate_reclassify(self, request: ActionRequest) -> None:
        self._validate(ActionName.RECLASSIFY, request)

    @workflow.update(name=ActionName.COMMENT.value)
    async def comment(self, request: ActionRequest) -> TicketSnapshot:
        return await self._act(ActionName.COMMENT, request)

    @comment.validator
    def validate_comment(self, request: ActionRequest) -> None:
        self._validate(ActionName.COMMENT, request)

    @workflow.update(name=REPORT_DUPLICATE_UPDATE)
    async def report_duplicate(self, report: DuplicateReport) -> TicketSnapshot:
        # A duplicate that arrives in the workflow's first task must not be
        # recorded before the ticket's own `registered` event.
        if workflow.patched(DUPLICATE_AFTER_REGISTRATION):
            await workflow.wait_condition(lambda: self._state.last_seq > 0)
        async with self._lock:
            if self._seen_update():
                return self._snapshot()
            self._check_duplicate(report)
            self._append(
                EventKind.DUPLICATE_REPORTED,
                f"intake:{report.channel}",
                {
                    "external_ref": report.external_ref,
                    "channel": report.channel,
                    "title": report.title,
                    "reported_at": _as_utc(report.reported_at).isoformat(),
                },
            )
            info = workflow.current_update_info()
            if info is not None:
                self._state.remember_update(info.id)
            await self._publish()
            return self._snapshot()

    @report_duplicate.validator
    def validate_report_duplicate(self, report: DuplicateReport) -> None:
        self._check_duplicate(report)

    def _check_duplicate(self, report: DuplicateReport) -> None:
        if self._seen_update():
            return
        rejection = rules.check_duplicate(report, self._state)
        if rejection is not None:
            raise _rejection_error(rejection)
