"""Domain types shared by the workflow, the activities, the API and the CLI.

Everything here is pure: pydantic models and enums with no I/O, so the
ticket workflow can import this module inside the Temporal sandbox.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)


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


# Input validation. Ticket text ends up in PostgreSQL, which rejects NUL in
# text and JSON columns, so a ticket accepted with one could never be
# projected. The other C0 control characters (all but tab, line feed and
# carriage return) have no use in ticket text and are rejected with it.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# UTF-8 cannot encode an unpaired surrogate, so the JSON encoder of the
# workflow input would fail on one.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_text(value: str, field: str) -> str:
    """Return `value`; raise ValueError naming `field` if it contains a C0
    control character other than tab, line feed and carriage return, or an
    unpaired surrogate."""
    control = _CONTROL_CHARACTER.search(value)
    if control:
        code = ord(control.group())
        kind = "a NUL character" if code == 0 else "a control character"
        raise ValueError(
            f"{field} contains {kind} (U+{code:04X}); remove control characters"
        )
    surrogate = _SURROGATE.search(value)
    if surrogate:
        code = ord(surrogate.group())
        raise ValueError(
            f"{field} contains an unpaired surrogate (U+{code:04X}); "
            "send valid Unicode text"
        )
    return value


def _check_field_text(value: str, info: ValidationInfo) -> str:
    return check_text(value, info.field_name or "text")


def _strip_field_text(
    value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> str:
    # Stripping before the inner validation lets max_length count the
    # stripped text, and rejects blank text here with a message of its own.
    field = info.field_name or "text"
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError(f"{field} must not be empty or only whitespace")
    return check_text(handler(value), field)


# Text from outside (an intake system, an engineer, a roster file).
InputText = Annotated[str, AfterValidator(_check_field_text)]
# The same for one-line values (a title, a name, an id), which are stored
# without surrounding whitespace and must not be blank.
StrippedText = Annotated[str, WrapValidator(_strip_field_text)]


# Bounds of `TicketIntake.attributes`. Every snapshot of the ticket carries
# the attributes, and each snapshot is written to the workflow history, so
# they are kept small.
ATTRIBUTES_MAX_KEYS = 100
ATTRIBUTE_KEY_MAX_LENGTH = 100
ATTRIBUTES_MAX_DEPTH = 5
ATTRIBUTES_MAX_BYTES = 16 * 1024


def _check_attribute_value(value: Any, path: str, depth: int) -> int:
    """Check one attribute value at any depth; return the number of keys in it.

    `depth` is 1 for the values of the top-level mapping, and each nested
    mapping or list adds one.
    """
    if isinstance(value, str):
        check_text(value, path)
        return 0
    if value is None or isinstance(value, bool | int):
        return 0
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} is {value}, not a finite number; use a string")
        return 0
    if not isinstance(value, dict | list | tuple):
        raise ValueError(
            f"{path} is a {type(value).__name__}; use JSON values: strings, "
            "numbers, booleans, null, lists and objects"
        )
    if depth >= ATTRIBUTES_MAX_DEPTH:
        raise ValueError(
            f"{path} nests deeper than {ATTRIBUTES_MAX_DEPTH} levels; "
            "flatten the attributes"
        )
    if isinstance(value, dict):
        return _check_attribute_mapping(value, path, depth + 1)
    return sum(
        _check_attribute_value(item, f"{path}[{index}]", depth + 1)
        for index, item in enumerate(value)
    )


def _check_attribute_mapping(mapping: dict[Any, Any], path: str, depth: int) -> int:
    for key in mapping:
        if not isinstance(key, str):
            raise ValueError(f"{path} has the key {key!r}; keys must be strings")
        label = f"key {key[:40]!r} in {path}"
        check_text(key, label)
        if len(key) > ATTRIBUTE_KEY_MAX_LENGTH:
            raise ValueError(
                f"{label} is {len(key)} characters long; "
                f"the maximum is {ATTRIBUTE_KEY_MAX_LENGTH}"
            )
    return len(mapping) + sum(
        _check_attribute_value(item, f"{path}.{key}", depth)
        for key, item in mapping.items()
    )


def check_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """Return `attributes`; raise ValueError if they break a bound or contain
    text that `check_text` rejects."""
    keys = _check_attribute_mapping(attributes, "attributes", 1)
    if keys > ATTRIBUTES_MAX_KEYS:
        raise ValueError(
            f"attributes have {keys} keys; the maximum is {ATTRIBUTES_MAX_KEYS}, "
            "counting the keys of nested objects"
        )
    compact = json.dumps(attributes, ensure_ascii=False, separators=(",", ":"))
    size = len(compact.encode())
    if size > ATTRIBUTES_MAX_BYTES:
        raise ValueError(
            f"attributes are {size} bytes as JSON; "
            f"the maximum is {ATTRIBUTES_MAX_BYTES}"
        )
    return attributes


class Reporter(DomainModel):
    kind: ReporterKind
    name: StrippedText | None = Field(default=None, max_length=200)
    contact: StrippedText | None = Field(default=None, max_length=320)


class TicketIntake(DomainModel):
    """A new ticket as it arrives from an intake system."""

    title: StrippedText = Field(min_length=1, max_length=200)
    description: InputText = Field(default="", max_length=20_000)
    channel: Channel
    reporter: Reporter
    type: TicketType | None = None
    category: Category | None = None
    priority: Priority | None = None
    external_ref: StrippedText | None = Field(
        default=None, min_length=1, max_length=200
    )
    attributes: Annotated[dict[str, Any], AfterValidator(check_attributes)] = Field(
        default_factory=dict,
        description=(
            "the sender's own fields, stored as sent: at most "
            f"{ATTRIBUTES_MAX_KEYS} keys counted at every depth, keys of at most "
            f"{ATTRIBUTE_KEY_MAX_LENGTH} characters, at most "
            f"{ATTRIBUTES_MAX_DEPTH} levels of objects and lists (the attributes "
            f"object is the first) and {ATTRIBUTES_MAX_BYTES} bytes as compact JSON"
        ),
    )


class Classification(DomainModel):
    """A decision on type, category and priority, with the reasons for it.

    `source` records where the values came from: `reporter` (all given at
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


# The form of a specialist id, such as `ana.k` or `oncall-devops-1`.
SPECIALIST_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
_SPECIALIST_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")


class SpecialistModel(DomainModel):
    id: str = Field(
        min_length=1,
        max_length=64,
        json_schema_extra={"pattern": SPECIALIST_ID_PATTERN},
    )
    name: StrippedText = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(
        min_length=1, description="repeated roles are dropped, keeping the first"
    )
    skills: list[Category] = Field(
        default_factory=list,
        description="repeated skills are dropped, keeping the first",
    )
    on_shift: StrictBool = True
    max_open_tickets: int = Field(default=10, ge=1, le=1000)
    contact: StrippedText | None = Field(default=None, max_length=320)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        # A pydantic `pattern` would show the raw regex to the caller.
        if not _SPECIALIST_ID.fullmatch(value):
            raise ValueError(
                "id must be lowercase letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("roles", "skills")
    @classmethod
    def _drop_repeats(cls, value: list[Any]) -> list[Any]:
        return list(dict.fromkeys(value))
