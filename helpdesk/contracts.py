"""Inputs and outputs of the ticket activities, and their registered names.

The workflow calls activities by name, so it never imports the activity
modules (they pull in SQLAlchemy and httpx, which do not belong in the
workflow sandbox). Both sides share these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, StrictBool

from helpdesk.domain import (
    ActionName,
    Assignee,
    Category,
    Classification,
    DomainModel,
    HoldReason,
    InputText,
    Priority,
    Role,
    SlaState,
    Stage,
    StrippedText,
    TicketEvent,
    TicketIntake,
    TicketType,
)
from helpdesk.sla import SlaPolicy

CLASSIFY_TICKET = "classify_ticket"
ASSIGN_SPECIALIST = "assign_specialist"
SEND_NOTIFICATION = "send_notification"
PROJECT_TICKET = "project_ticket"

TICKET_WORKFLOW = "TicketWorkflow"
STATE_QUERY = "state"
REPORT_DUPLICATE_UPDATE = "report_duplicate"


def workflow_id_for(ticket_id: str) -> str:
    """Return the workflow id of a ticket (`ticket-HD-4F7K2Q`)."""
    return f"ticket-{ticket_id}"


class ClassifyInput(DomainModel):
    ticket_id: str
    intake: TicketIntake


class AssignInput(DomainModel):
    """A request for a specialist.

    With `specialist_id` set (a `reassign` action) that specialist is taken
    if it exists, whatever its load. Otherwise the least-loaded on-shift
    specialist of the role for `category` is picked, skipping `exclude`.
    """

    ticket_id: str
    category: Category
    priority: Priority
    specialist_id: str | None = None
    exclude: list[str] = Field(default_factory=list)


class AssignResult(DomainModel):
    role: Role
    assignee: Assignee | None
    # Roles to notify besides the assignee (security tickets also page the
    # support managers).
    also_notify: list[Role] = Field(default_factory=list)
    reason: str


class NotificationRequest(DomainModel):
    """One notification to send.

    `notification_id` is the idempotency key: the activity sends each id at
    most once, however often it is retried. `recipient` is a specialist id,
    or `role:<role>` for everyone on shift with that role.
    """

    notification_id: str
    ticket_id: str
    recipient: str
    kind: str
    subject: str
    body: str
    priority: Priority
    details: dict[str, Any] = Field(default_factory=dict)


class NotificationResult(DomainModel):
    notification_id: str
    delivered: bool
    channel: str
    attempts: int
    recipients: list[str] = Field(default_factory=list)
    error: str | None = None


class SlaClockView(DomainModel):
    """One SLA clock as shown to engineers and stored in the projection."""

    name: str
    target_seconds: float
    started_at: datetime
    due_at: datetime | None
    remaining_seconds: float
    paused: bool
    met_at: datetime | None = None
    breached_at: datetime | None = None
    breached: bool = False
    warnings: list[float] = Field(default_factory=list)
    cycle: int = 1


class TicketSnapshot(DomainModel):
    """The live state of a ticket, as returned by the workflow query."""

    id: str
    workflow_id: str
    external_ref: str | None
    title: str
    description: str
    channel: str
    reporter: dict[str, Any]
    attributes: dict[str, Any] = Field(default_factory=dict)
    type: TicketType
    category: Category
    priority: Priority
    classification: Classification | None = None
    stage: Stage
    on_hold: bool
    hold_reason: str | None = None
    assignee: Assignee | None = None
    queue_role: Role | None = None
    sla_state: SlaState
    first_response: SlaClockView
    resolution: SlaClockView
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopen_window_ends_at: datetime | None = None
    escalation_level: int = 0
    reopen_count: int = 0
    sla_policy_version: str
    last_seq: int
    created_at: datetime
    updated_at: datetime


class ProjectionInput(DomainModel):
    """A ticket's state and the events not yet written to the database."""

    snapshot: TicketSnapshot
    events: list[TicketEvent]


class TicketWorkflowInput(DomainModel):
    """The input that starts a ticket workflow.

    `carried` is set only when a long-lived ticket continues as new. It contains
    the state of the previous run, so the new run resumes where that stopped.
    """

    ticket_id: str
    intake: TicketIntake
    registered_at: datetime
    policy: SlaPolicy
    carried: dict[str, Any] | None = None


class ActionRequest(DomainModel):
    """An engineer's action on a ticket, sent to the workflow as an update.

    Each action reads only its own fields: `note` (required for `diagnose`),
    `passed` for `verify`, `reason` for `hold`, `priority` for
    `change_priority`, `assignee` (a specialist id) for `reassign`, and any of
    `type`, `category` and `priority` for `reclassify`.
    """

    action: ActionName
    actor: StrippedText = Field(min_length=1, max_length=200)
    note: InputText | None = Field(default=None, max_length=20_000)
    passed: StrictBool | None = None
    reason: HoldReason | None = None
    priority: Priority | None = None
    assignee: StrippedText | None = Field(default=None, max_length=64)
    type: TicketType | None = None
    category: Category | None = None


class DuplicateReport(DomainModel):
    """The same `external_ref` reported again while the ticket is open."""

    external_ref: StrippedText
    channel: InputText
    title: StrippedText
    reported_at: datetime
