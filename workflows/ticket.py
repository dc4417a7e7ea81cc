"""The ticket workflow: one durable workflow per support ticket.

A ticket is registered, classified and assigned when the workflow starts.
Engineers then move it through its stages with Workflow Updates (one per
`ActionName`), while the workflow's main loop sleeps on a durable timer
armed at the next SLA warning, breach, escalation step or the end of the
reopen window. Every change appends a `TicketEvent`; the `project_ticket`
activity writes the events and a snapshot to the database before an update
returns.

Determinism: this module uses only `workflow.now()` for time, keeps all
state in `TicketState`, and decides every timer from that state. Changes to
the order of timers, activities or events under running tickets need
`workflow.patched(...)`; this is version 1, so there are no patches yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from helpdesk.contracts import (
        ASSIGN_SPECIALIST,
        CLASSIFY_TICKET,
        PROJECT_TICKET,
        REPORT_DUPLICATE_UPDATE,
        SEND_NOTIFICATION,
        STATE_QUERY,
        TICKET_WORKFLOW,
        ActionRequest,
        AssignInput,
        AssignResult,
        ClassifyInput,
        DuplicateReport,
        NotificationRequest,
        NotificationResult,
        ProjectionInput,
        TicketSnapshot,
        TicketWorkflowInput,
    )
    from helpdesk.domain import (
        ActionName,
        Category,
        Classification,
        ClockName,
        EventKind,
        Priority,
        Role,
        Stage,
        TicketEvent,
        TicketType,
    )
    from helpdesk.sla import EscalationStep, format_duration
    from workflows import rules, sla_clock
    from workflows.deadlines import Deadline, DeadlineKind, next_deadline
    from workflows.sla_clock import SignalKind
    from workflows.state import TicketState, build_snapshot, new_state
    from workflows.texts import notification_body, status_markdown
    from workflows.visibility import changed_search_attributes

SYSTEM_ACTOR = "system"
MANAGERS = f"role:{Role.SUPPORT_MANAGER.value}"

# A second guard beside the server's continue-as-new suggestion.
HISTORY_LENGTH_LIMIT = 10_000

CLASSIFY_TIMEOUT = timedelta(seconds=60)
ASSIGN_TIMEOUT = timedelta(seconds=10)
NOTIFY_TIMEOUT = timedelta(seconds=30)
PROJECT_TIMEOUT = timedelta(seconds=15)

# The classifier is local code: after a few failures the ticket goes on with
# the reporter's values and a flag for manual triage instead of waiting.
CLASSIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
)
# Assignment and projection need the database: retry until it is back.
ASSIGN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[rules.NOT_FOUND],
)
PROJECT_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,
)
# A notification that still fails after 5 attempts is recorded as failed;
# it never fails the ticket.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["NotificationRejected", "NotFound", "InvalidRecipient"],
)

ActionHandler = Callable[[ActionRequest], Awaitable[None]]


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _rejection_error(rejection: rules.Rejection) -> ApplicationError:
    return ApplicationError(rejection.message, type=rejection.type, non_retryable=True)


@workflow.defn(name=TICKET_WORKFLOW)
class TicketWorkflow:
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
        await self._publish()

        result = await self._assign()
        if result.assignee is not None:
            self._take_assignment(result, SYSTEM_ACTOR)
        else:
            self._queue(result)
            self._start_escalation("unassigned", result.reason)
        await self._publish()

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

    # ------------------------------------------------------------------
    # SLA clocks and the escalation ladder

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
        self._log("ticket.sla.breached", clock=name.value)
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

    async def _escalate_now(self, trigger: str, reason: str) -> None:
        """Take one step up the ladder now, and keep the ladder running."""
        if not self._state.escalation.active:
            self._begin_ladder_run(trigger, reason)
        await self._escalation_step(trigger, reason)

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
        self, trigger: str | None = None, reason: str | None = None
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
            SYSTEM_ACTOR,
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

    # ------------------------------------------------------------------
    # Notifications

    def _notify_assignee(self, cause: TicketEvent, kind: str) -> None:
        state = self._state
        if state.assignee is not None:
            self._notify(cause, state.assignee.id, kind, "assignee")
        elif state.queue_role is not None:
            recipient = f"role:{state.queue_role.value}"
            self._notify(cause, recipient, kind, recipient)

    def _notify(
        self, cause: TicketEvent, recipient: str, kind: str, audience: str
    ) -> None:
        """Send a notification in the background and record its outcome.

        The id is built from the ticket, the event and the recipient, so a
        retried activity or a replayed workflow never sends it twice.
        """
        state = self._state
        request = NotificationRequest(
            notification_id=f"{self._ticket_id}:{cause.seq}:{recipient}",
            ticket_id=self._ticket_id,
            recipient=recipient,
            kind=kind,
            subject=f"[{state.priority.value}] {self._ticket_id}: {kind}",
            body=notification_body(
                self._ticket_id, self._input.intake.title, state, cause, kind
            ),
            priority=state.priority,
            details={"event_seq": cause.seq, **cause.details},
        )
        task = asyncio.create_task(self._send(request, f"notify {audience}: {kind}"))
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    async def _send(self, request: NotificationRequest, summary: str) -> None:
        details: dict[str, Any] = {
            "notification_id": request.notification_id,
            "recipient": request.recipient,
            "kind": request.kind,
            "event_seq": request.details.get("event_seq"),
        }
        try:
            result = await workflow.execute_activity(
                SEND_NOTIFICATION,
                request,
                result_type=NotificationResult,
                start_to_close_timeout=NOTIFY_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
                summary=summary,
            )
        except ActivityError as err:
            cause = err.cause or err
            details["error"] = str(cause)
            kind = EventKind.NOTIFICATION_FAILED
            self._warn(
                "ticket.notification.failed",
                recipient=request.recipient,
                error=str(cause),
            )
        else:
            details.update(
                channel=result.channel,
                attempts=result.attempts,
                recipients=list(result.recipients),
            )
            if result.delivered:
                kind = EventKind.NOTIFICATION_SENT
            else:
                kind = EventKind.NOTIFICATION_FAILED
                details["error"] = result.error
        async with self._lock:
            self._append(kind, SYSTEM_ACTOR, details)
            await self._publish()

    # ------------------------------------------------------------------
    # Events, projection, search attributes

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

    # ------------------------------------------------------------------
    # Effects of each action (run under the lock, after validation)

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
        await self._escalate_now("escalate", reason)

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
