"""The state a ticket workflow carries, and the snapshot built from it.

Pure models and functions, importable in the workflow sandbox. The state is
what a continue-as-new hands to the next run (`TicketWorkflowInput.carried`
is `TicketState.model_dump(mode="json")`), so every field must survive a
JSON round trip.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from helpdesk.contracts import TicketSnapshot, workflow_id_for
from helpdesk.domain import (
    Assignee,
    Category,
    Classification,
    ClockName,
    HoldReason,
    Priority,
    Role,
    SlaState,
    Stage,
    TicketEvent,
    TicketIntake,
    TicketType,
)
from helpdesk.sla import SlaPolicy
from workflows import sla_clock
from workflows.sla_clock import ClockState

# How many update ids a ticket remembers for idempotency. A caller retrying
# an action retries within minutes, long before 500 newer actions arrive.
SEEN_UPDATE_IDS_LIMIT = 500

# Values a ticket has before the classifier has run. They are never written
# to the database: the first projection happens after classification.
PROVISIONAL_TYPE = TicketType.SERVICE_REQUEST
PROVISIONAL_CATEGORY = Category.USER_SYSTEM
PROVISIONAL_PRIORITY = Priority.P3

CLOSED_STAGES = frozenset({Stage.RESOLVED, Stage.CLOSED})


class _StateModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EscalationState(_StateModel):
    """Where the ticket stands on the escalation ladder.

    `level` only rises: it counts the steps taken over the ticket's life,
    across ladder runs.
    `active` is true while the ladder runs, that is until an acknowledge, the
    resolution or the last level. While the ticket is on hold the next step
    is parked in `paused_remaining_seconds` instead of `next_step_at`.
    """

    active: bool = False
    level: int = 0
    trigger: str | None = None
    reason: str | None = None
    next_step_at: datetime | None = None
    paused_remaining_seconds: float | None = None
    # Specialists this ladder run has moved the ticket away from, so each
    # reassignment goes to someone new while anyone is left.
    passed_over: list[str] = Field(default_factory=list)


class TicketState(_StateModel):
    stage: Stage = Stage.REGISTERED
    type: TicketType
    category: Category
    priority: Priority
    classification: Classification | None = None

    on_hold: bool = False
    hold_reason: HoldReason | None = None
    hold_started_at: datetime | None = None

    assignee: Assignee | None = None
    queue_role: Role | None = None
    # Set while an unassigned ticket waits for a retry after the ladder's
    # last level, so a queued ticket is never forgotten.
    assignment_retry_at: datetime | None = None

    first_response: ClockState
    resolution: ClockState
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopen_window_ends_at: datetime | None = None
    reopen_count: int = 0
    p1_unacknowledged_reported: bool = False
    escalation: EscalationState = Field(default_factory=EscalationState)

    last_seq: int = 0
    # Events not yet written by the `project_ticket` activity.
    pending_events: list[TicketEvent] = Field(default_factory=list)
    seen_update_ids: list[str] = Field(default_factory=list)
    run_count: int = 1
    created_at: datetime
    updated_at: datetime

    def clock(self, name: ClockName) -> ClockState:
        if name == ClockName.FIRST_RESPONSE:
            return self.first_response
        return self.resolution

    def clocks(self) -> tuple[ClockState, ClockState]:
        return (self.first_response, self.resolution)

    def remember_update(self, update_id: str) -> None:
        self.seen_update_ids.append(update_id)
        del self.seen_update_ids[:-SEEN_UPDATE_IDS_LIMIT]


def new_state(
    intake: TicketIntake, policy: SlaPolicy, registered_at: datetime
) -> TicketState:
    """Return the state of a ticket just registered, before classification.

    Both SLA clocks start at registration with the reporter's priority (or
    the provisional P3); classification re-targets them keeping the time
    already spent.
    """
    priority = intake.priority or PROVISIONAL_PRIORITY
    targets = policy.targets(priority)
    return TicketState(
        type=intake.type or PROVISIONAL_TYPE,
        category=intake.category or PROVISIONAL_CATEGORY,
        priority=priority,
        first_response=sla_clock.start_clock(
            ClockName.FIRST_RESPONSE, priority, targets.first_response, registered_at
        ),
        resolution=sla_clock.start_clock(
            ClockName.RESOLUTION, priority, targets.resolution, registered_at
        ),
        created_at=registered_at,
        updated_at=registered_at,
    )


def sla_state(state: TicketState) -> SlaState:
    """Summarise both clocks as one state, most urgent first.

    paused (on hold) > breached (a clock breached this cycle, ticket not
    resolved) > at_risk (an unmet clock past its first warning) > on_track.
    A resolved or closed ticket is breached if its resolution clock breached
    this cycle, else met.
    """
    if state.stage in CLOSED_STAGES:
        return SlaState.BREACHED if state.resolution.breached else SlaState.MET
    if state.on_hold:
        return SlaState.PAUSED
    if any(clock.breached for clock in state.clocks()):
        return SlaState.BREACHED
    if any(clock.warnings and not clock.met for clock in state.clocks()):
        return SlaState.AT_RISK
    return SlaState.ON_TRACK


def build_snapshot(
    ticket_id: str,
    intake: TicketIntake,
    policy: SlaPolicy,
    state: TicketState,
    now: datetime,
) -> TicketSnapshot:
    return TicketSnapshot(
        id=ticket_id,
        workflow_id=workflow_id_for(ticket_id),
        external_ref=intake.external_ref,
        title=intake.title,
        description=intake.description,
        channel=intake.channel.value,
        reporter=intake.reporter.model_dump(mode="json"),
        attributes=dict(intake.attributes),
        type=state.type,
        category=state.category,
        priority=state.priority,
        classification=state.classification,
        stage=state.stage,
        on_hold=state.on_hold,
        hold_reason=state.hold_reason.value if state.hold_reason else None,
        assignee=state.assignee,
        queue_role=state.queue_role,
        sla_state=sla_state(state),
        first_response=sla_clock.view(state.first_response, now),
        resolution=sla_clock.view(state.resolution, now),
        first_response_at=state.first_response_at,
        resolved_at=state.resolved_at,
        closed_at=state.closed_at,
        reopen_window_ends_at=state.reopen_window_ends_at,
        escalation_level=state.escalation.level,
        reopen_count=state.reopen_count,
        sla_policy_version=policy.version,
        last_seq=state.last_seq,
        created_at=state.created_at,
        updated_at=state.updated_at,
    )
