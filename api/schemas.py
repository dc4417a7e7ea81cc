"""Request and response bodies of the API.

Ticket responses are built from `TicketSnapshot`, whether it came from the
workflow (an open ticket) or from the database (a closed one).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from api.errors import register_union_tags
from api.text import shorten
from helpdesk.contracts import SlaClockView, TicketSnapshot
from helpdesk.domain import (
    ActionName,
    Assignee,
    Category,
    EventKind,
    HoldReason,
    Priority,
    Role,
    SlaState,
    SpecialistModel,
    Stage,
    TicketIntake,
    TicketType,
)

# The form of a specialist id, as `SpecialistModel.id` checks it.
SPECIALIST_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
SPECIALIST_ID = re.compile(SPECIALIST_ID_PATTERN)


class TicketCreate(TicketIntake):
    """A new ticket. Type, category and priority are classified when missing.

    `external_ref` is the sender's own id (an alert fingerprint, a webhook
    delivery id): while a ticket with that reference is open, posting it again
    returns that ticket and records a duplicate report on it.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Lobby returns 502 for all players in EU",
                    "description": "Since 14:02 UTC the lobby API answers 502.",
                    "channel": "monitoring",
                    "reporter": {"kind": "monitoring", "name": "alertmanager"},
                    "priority": "P1",
                    "external_ref": "alert-7f3a91",
                }
            ]
        },
    )


class SlaClockRead(BaseModel):
    """One SLA clock. `remaining_seconds` is negative once the clock is overdue."""

    target_seconds: float
    started_at: datetime
    due_at: datetime | None = Field(description="null while the ticket is on hold")
    remaining_seconds: float | None = Field(description="null once the clock is met")
    paused: bool
    met_at: datetime | None
    breached: bool
    breached_at: datetime | None
    warnings: list[float] = Field(description="warning thresholds already passed")
    cycle: int


class SlaRead(BaseModel):
    state: SlaState
    policy_version: str
    first_response_due: datetime | None
    resolution_due: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    first_response: SlaClockRead
    resolution: SlaClockRead


class ClassificationRead(BaseModel):
    confidence: float
    reasons: list[str]
    needs_triage: bool
    source: str
    language: str | None = None


class TicketRead(BaseModel):
    """A ticket's live state from its workflow, or the stored state once closed."""

    id: str
    workflow_id: str
    external_ref: str | None
    title: str
    description: str
    channel: str
    reporter: dict[str, Any]
    attributes: dict[str, Any]
    type: TicketType
    category: Category
    priority: Priority
    stage: Stage
    on_hold: bool
    hold_reason: str | None
    assignee: Assignee | None
    queue_role: Role | None
    sla: SlaRead
    escalation_level: int
    reopen_count: int
    classification: ClassificationRead | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    source: Literal["workflow", "database", "registration"] = Field(
        description="workflow: live state; database: the snapshot stored at the "
        "last change (closed tickets, or when no worker responded); "
        "registration: a new ticket before its workflow ran"
    )

    @classmethod
    def from_snapshot(
        cls,
        snapshot: TicketSnapshot,
        *,
        now: datetime,
        source: Literal["workflow", "database", "registration"],
    ) -> TicketRead:
        classification = None
        if snapshot.classification is not None:
            classification = ClassificationRead(
                confidence=snapshot.classification.confidence,
                reasons=snapshot.classification.reasons,
                needs_triage=snapshot.classification.needs_triage,
                source=snapshot.classification.source,
                language=snapshot.classification.language,
            )
        sla = SlaRead(
            state=snapshot.sla_state,
            policy_version=snapshot.sla_policy_version,
            first_response_due=snapshot.first_response.due_at,
            resolution_due=snapshot.resolution.due_at,
            first_response_at=snapshot.first_response_at,
            resolved_at=snapshot.resolved_at,
            first_response=clock_read(snapshot.first_response, now),
            resolution=clock_read(snapshot.resolution, now),
        )
        return cls(
            id=snapshot.id,
            workflow_id=snapshot.workflow_id,
            external_ref=snapshot.external_ref,
            title=snapshot.title,
            description=snapshot.description,
            channel=snapshot.channel,
            reporter=snapshot.reporter,
            attributes=snapshot.attributes,
            type=snapshot.type,
            category=snapshot.category,
            priority=snapshot.priority,
            stage=snapshot.stage,
            on_hold=snapshot.on_hold,
            hold_reason=snapshot.hold_reason,
            assignee=snapshot.assignee,
            queue_role=snapshot.queue_role,
            sla=sla,
            escalation_level=snapshot.escalation_level,
            reopen_count=snapshot.reopen_count,
            classification=classification,
            created_at=snapshot.created_at,
            updated_at=snapshot.updated_at,
            closed_at=snapshot.closed_at,
            source=source,
        )


def clock_read(clock: SlaClockView, now: datetime) -> SlaClockRead:
    """Convert a clock, counting the remaining time against `now`.

    The workflow computes `remaining_seconds` at its last task, so a running
    clock's remaining time is recomputed here from its due time.
    """
    remaining: float | None
    if clock.met_at is not None:
        remaining = None
    elif clock.paused or clock.due_at is None:
        remaining = clock.remaining_seconds
    else:
        remaining = round((clock.due_at - now).total_seconds(), 3)
    return SlaClockRead(
        target_seconds=clock.target_seconds,
        started_at=clock.started_at,
        due_at=clock.due_at,
        remaining_seconds=remaining,
        paused=clock.paused,
        met_at=clock.met_at,
        breached=clock.breached,
        breached_at=clock.breached_at,
        warnings=clock.warnings,
        cycle=clock.cycle,
    )


class TicketEventRead(BaseModel):
    seq: int
    at: datetime
    kind: EventKind
    actor: str
    details: dict[str, Any]


class HistoryRead(BaseModel):
    items: list[TicketEventRead]


class QueueRead(BaseModel):
    items: list[TicketRead]
    next_cursor: str | None = Field(
        description="pass as `cursor` to fetch the next page; null on the last page"
    )


class SpecialistList(BaseModel):
    items: list[SpecialistModel]


class SpecialistWrite(BaseModel):
    """A specialist's details; the id comes from the path."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    skills: list[Category] = Field(default_factory=list)
    on_shift: StrictBool = True
    max_open_tickets: int = Field(default=10, ge=1, le=1000)
    contact: str | None = Field(default=None, max_length=320)


class SpecialistPatch(BaseModel):
    """Changes to a specialist: the fields given are set, the others kept.

    `contact: null` removes the contact; the other fields cannot be null.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"on_shift": False}]},
    )

    name: str | None = Field(default=None, min_length=1, max_length=200)
    roles: list[Role] | None = Field(default=None, min_length=1)
    skills: list[Category] | None = None
    on_shift: StrictBool | None = None
    max_open_tickets: int | None = Field(default=None, ge=1, le=1000)
    contact: str | None = Field(default=None, max_length=320)

    @field_validator(
        "name", "roles", "skills", "on_shift", "max_open_tickets", mode="before"
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields present in the body, so None here is a JSON null.
        if value is None:
            raise ValueError("cannot be null: leave the field out to keep it")
        return value

    @model_validator(mode="after")
    def _something_to_change(self) -> SpecialistPatch:
        if not self.model_fields_set:
            fields = ", ".join(SpecialistPatch.model_fields)
            raise ValueError(f"give at least one field to change: {fields}")
        return self


class HealthRead(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


# Actions. Each is its own model so that a missing field is reported by name;
# `action` selects the model.


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: str = Field(
        min_length=1, max_length=200, description="who acts: a specialist id or name"
    )
    note: str | None = Field(default=None, max_length=20_000)


class AcknowledgeAction(_Action):
    action: Literal[ActionName.ACKNOWLEDGE]


class DiagnoseAction(_Action):
    action: Literal[ActionName.DIAGNOSE]
    note: str = Field(min_length=1, max_length=20_000, description="the findings")


class SubmitFixAction(_Action):
    action: Literal[ActionName.SUBMIT_FIX]


class VerifyAction(_Action):
    action: Literal[ActionName.VERIFY]
    passed: StrictBool = Field(
        description="true resolves the ticket, false reopens work"
    )


class CloseAction(_Action):
    action: Literal[ActionName.CLOSE]


class ReopenAction(_Action):
    action: Literal[ActionName.REOPEN]


class HoldAction(_Action):
    action: Literal[ActionName.HOLD]
    reason: HoldReason


class ResumeAction(_Action):
    action: Literal[ActionName.RESUME]


class ReassignAction(_Action):
    action: Literal[ActionName.REASSIGN]
    assignee: str = Field(min_length=1, max_length=64, description="specialist id")

    @field_validator("assignee")
    @classmethod
    def _specialist_id(cls, value: str) -> str:
        if not SPECIALIST_ID.fullmatch(value):
            raise ValueError(
                f"invalid specialist id {shorten(value)!r}: specialist ids use "
                "lower-case letters, digits, '.', '_' and '-', such as ana.k"
            )
        return value


class EscalateAction(_Action):
    action: Literal[ActionName.ESCALATE]


class ChangePriorityAction(_Action):
    action: Literal[ActionName.CHANGE_PRIORITY]
    priority: Priority


class ReclassifyAction(_Action):
    action: Literal[ActionName.RECLASSIFY]
    type: TicketType | None = None
    category: Category | None = None
    priority: Priority | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> ReclassifyAction:
        if self.type is None and self.category is None and self.priority is None:
            raise ValueError("give at least one of type, category and priority")
        return self


class CommentAction(_Action):
    action: Literal[ActionName.COMMENT]
    note: str = Field(min_length=1, max_length=20_000, description="the comment")


ActionBody = Annotated[
    AcknowledgeAction
    | DiagnoseAction
    | SubmitFixAction
    | VerifyAction
    | CloseAction
    | ReopenAction
    | HoldAction
    | ResumeAction
    | ReassignAction
    | EscalateAction
    | ChangePriorityAction
    | ReclassifyAction
    | CommentAction,
    Field(discriminator="action"),
]

register_union_tags([action.value for action in ActionName])
