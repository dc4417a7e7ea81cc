"""Domain types shared by the workflow, the activities, the API and the CLI.

Everything here is pure: pydantic models and enums with no I/O, so the
ticket workflow can import this module inside the Temporal sandbox.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TicketType(StrEnum):
    TECHNICAL_INCIDENT = "technical_incident"
    SERVICE_REQUEST = "service_request"
    INTEGRATION_ISSUE = "integration_issue"
    PAYMENT_ISSUE = "payment_issue"
    SECURITY_ALERT = "security_alert"
    INFRASTRUCTURE_ISSUE = "infrastructure_issue"


class Category(StrEnum):
    INFRASTRUCTURE = "infrastructure"
    API_INTEGRATION = "api_integration"
    PAYMENT = "payment"
    PROVIDER = "provider"
    SECURITY = "security"
    USER_SYSTEM = "user_system"


class Priority(StrEnum):
    """Ticket priority, P1 critical to P4 low."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def level(self) -> int:
        return int(self.value[1])


class Channel(StrEnum):
    EMAIL = "email"
    API = "api"
    CHAT = "chat"
    MONITORING = "monitoring"
    PHONE = "phone"


class ReporterKind(StrEnum):
    PLAYER = "player"
    OPERATOR = "operator"
    PROVIDER = "provider"
    MONITORING = "monitoring"
    INTERNAL = "internal"


class Stage(StrEnum):
    REGISTERED = "registered"
    CLASSIFIED = "classified"
    ASSIGNED = "assigned"
    DIAGNOSTICS = "diagnostics"
    CORRECTION = "correction"
    SOLUTION_CHECK = "solution_check"
    RESOLVED = "resolved"
    CLOSED = "closed"


# Stages in which engineers work the ticket; only these can be put on hold.
WORKING_STAGES = frozenset(
    {
        Stage.ASSIGNED,
        Stage.DIAGNOSTICS,
        Stage.CORRECTION,
        Stage.SOLUTION_CHECK,
    }
)

# Stages in which a ticket counts towards its assignee's open-ticket load.
OPEN_STAGES = frozenset(set(Stage) - {Stage.RESOLVED, Stage.CLOSED})


class HoldReason(StrEnum):
    WAITING_FOR_REPORTER = "waiting_for_reporter"
    WAITING_FOR_PROVIDER = "waiting_for_provider"
    WAITING_FOR_CHANGE_WINDOW = "waiting_for_change_window"
    WAITING_FOR_THIRD_PARTY = "waiting_for_third_party"
    WAITING_FOR_DEPLOYMENT = "waiting_for_deployment"


class SlaState(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    PAUSED = "paused"
    BREACHED = "breached"
    MET = "met"


class ClockName(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class Role(StrEnum):
    SUPPORT_ENGINEER = "support_engineer"
    DEVOPS_ENGINEER = "devops_engineer"
    BACKEND_DEVELOPER = "backend_developer"
    INTEGRATION_ENGINEER = "integration_engineer"
    SUPPORT_MANAGER = "support_manager"


class EventKind(StrEnum):
    REGISTERED = "registered"
    CLASSIFIED = "classified"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    STAGE_CHANGED = "stage_changed"
    COMMENT = "comment"
    HOLD = "hold"
    RESUME = "resume"
    PRIORITY_CHANGED = "priority_changed"
    RECLASSIFIED = "reclassified"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"
    ESCALATED = "escalated"
    NOTIFICATION_SENT = "notification_sent"
    NOTIFICATION_FAILED = "notification_failed"
    DUPLICATE_REPORTED = "duplicate_reported"
    QUEUED = "queued"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"


class ActionName(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    DIAGNOSE = "diagnose"
    SUBMIT_FIX = "submit_fix"
    VERIFY = "verify"
    CLOSE = "close"
    REOPEN = "reopen"
    HOLD = "hold"
    RESUME = "resume"
    REASSIGN = "reassign"
    ESCALATE = "escalate"
    CHANGE_PRIORITY = "change_priority"
    RECLASSIFY = "reclassify"
    COMMENT = "comment"


class DomainModel(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid")


class Reporter(DomainModel):
    kind: ReporterKind
    name: str | None = Field(default=None, max_length=200)
    contact: str | None = Field(default=None, max_length=320)


class TicketIntake(DomainModel):
    """A new ticket as it arrives from an intake system."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    channel: Channel
    reporter: Reporter
    type: TicketType | None = None
    category: Category | None = None
    priority: Priority | None = None
    external_ref: str | None = Field(default=None, min_length=1, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)


class Classification(DomainModel):
    """A decision on type, category and priority, with the reasons for it.

    `source` tells where the values came from: `reporter` (all given at
    intake), `classifier`, or `engineer` (a reclassify action).
    """

    type: TicketType
    category: Category
    priority: Priority
    confidence: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = Field(default_factory=list)
    needs_triage: bool = False
    source: str = "classifier"
    language: str | None = None


class Assignee(DomainModel):
    id: str
    name: str
    role: Role


class TicketEvent(DomainModel):
    """One entry in a ticket's history; `seq` runs 1, 2, 3... without gaps."""

    seq: int = Field(ge=1)
    at: datetime
    kind: EventKind
    actor: str
    details: dict[str, Any] = Field(default_factory=dict)


class SpecialistModel(DomainModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    skills: list[Category] = Field(default_factory=list)
    on_shift: bool = True
    max_open_tickets: int = Field(default=10, ge=1, le=1000)
    contact: str | None = Field(default=None, max_length=320)
