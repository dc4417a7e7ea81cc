"""SLA policy: per-priority targets, warning thresholds, reopen window and
escalation ladder.

The model is pure so that the ticket workflow can carry the policy that was
in force when the ticket opened. Loading it from YAML lives in
`helpdesk.policy_file`.
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from helpdesk.domain import Priority

_DURATION_PART = re.compile(r"(\d+)(d|h|m|s)")
_DURATION_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as `30s`, `15m`, `4h`, `3d` or `1h30m`."""
    if not isinstance(text, str):
        raise ValueError(
            f"invalid duration {text!r}: "
            "write it as a string such as 30s, 15m, 4h or 3d"
        )
    compact = text.strip().lower()
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(
            f"invalid duration {text!r}: use a number with a unit s, m, h or d, "
            "such as 30s, 15m, 4h, 3d or 1h30m"
        )
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: it must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format a duration compactly (`15m`, `4h`, `1h30m`) for labels and logs."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    out = []
    for unit, size in _DURATION_UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def _duration_input(value: object) -> object:
    """Parse compact text such as `15m`; leave the rest to pydantic.

    Pydantic serialises a timedelta as ISO 8601 text (`PT15M`), which is how
    a policy travels inside a workflow input, so that form must load back.
    A bare number is rejected, although pydantic would read it as seconds,
    because a policy file should not leave the unit to a guess.
    """
    if isinstance(value, bool | int | float):
        raise ValueError(
            f"invalid duration {value!r}: write a number with a unit s, m, h "
            "or d, such as 30s, 15m, 4h or 3d"
        )
    if isinstance(value, str) and not value.strip().upper().startswith("P"):
        return parse_duration(value)
    return value


_ZERO_TEXTS = ("0", "0s", "0m", "0h", "0d")


def _is_zero(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    return isinstance(value, str) and value.strip().lower() in _ZERO_TEXTS


class _PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriorityTargets(_PolicyModel):
    first_response: timedelta
    resolution: timedelta

    @field_validator("first_response", "resolution", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        return _duration_input(value)

    @model_validator(mode="after")
    def _first_response_within_resolution(self) -> PriorityTargets:
        if self.first_response > self.resolution:
            raise ValueError(
                "first_response must not be longer than resolution "
                f"({format_duration(self.first_response)} > "
                f"{format_duration(self.resolution)})"
            )
        return self


class EscalationStep(_PolicyModel):
    """One rung of the escalation ladder.

    `after` is the delay from the previous rung (from the trigger for the
    first rung). `reassign` moves the ticket to the next on-shift specialist
    of the same role; `notify_managers` pages the support managers as well
    as the assignee.
    """

    after: timedelta
    reassign: bool = False
    notify_managers: bool = False

    @field_validator("after", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        # Zero is the same in every unit, so a bare 0 is accepted here.
        if _is_zero(value):
            return timedelta(0)
        return _duration_input(value)


def _default_ladder() -> list[EscalationStep]:
    return [
        EscalationStep(after=timedelta(0)),
        EscalationStep(
            after=timedelta(minutes=15), reassign=True, notify_managers=True
        ),
        EscalationStep(
            after=timedelta(minutes=30), reassign=True, notify_managers=True
        ),
    ]


class EscalationPolicy(_PolicyModel):
    """When and how a ticket climbs the escalation ladder.

    The ladder starts at a breach, when a P1 stays unacknowledged for
    `p1_unacknowledged_after`, or when no specialist can take the ticket.
    After the last rung it repeats that rung every `repeat_every` until
    `max_level`; acknowledging stops it.
    """

    p1_unacknowledged_after: timedelta = timedelta(minutes=10)
    steps: list[EscalationStep] = Field(default_factory=_default_ladder, min_length=1)
    repeat_every: timedelta = timedelta(minutes=30)
    max_level: int = Field(default=5, ge=1, le=20)
    reopens_before_escalation: int = Field(default=2, ge=1)

    @field_validator("p1_unacknowledged_after", "repeat_every", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        return _duration_input(value)


class SlaPolicy(_PolicyModel):
    version: str = Field(min_length=1, max_length=64)
    warning_thresholds: list[float] = Field(default_factory=lambda: [0.75, 0.9])
    reopen_window: timedelta = timedelta(hours=72)
    priorities: dict[Priority, PriorityTargets]
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)

    @field_validator("reopen_window", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        return _duration_input(value)

    @field_validator("warning_thresholds")
    @classmethod
    def _thresholds(cls, value: list[float]) -> list[float]:
        for threshold in value:
            if not 0 < threshold < 1:
                raise ValueError(
                    f"warning threshold {threshold} is out of range: "
                    "use a fraction of the target between 0 and 1, such as 0.75"
                )
        if sorted(set(value)) != value:
            raise ValueError("warning thresholds must be distinct and in rising order")
        return value

    @field_validator("priorities")
    @classmethod
    def _all_priorities(
        cls, value: dict[Priority, PriorityTargets]
    ) -> dict[Priority, PriorityTargets]:
        missing = [p.value for p in Priority if p not in value]
        if missing:
            raise ValueError(f"missing targets for {', '.join(missing)}")
        return value

    def targets(self, priority: Priority) -> PriorityTargets:
        return self.priorities[priority]


DEFAULT_POLICY = SlaPolicy(
    version="default",
    priorities={
        Priority.P1: PriorityTargets(
            first_response=timedelta(minutes=15), resolution=timedelta(hours=4)
        ),
        Priority.P2: PriorityTargets(
            first_response=timedelta(minutes=30), resolution=timedelta(hours=8)
        ),
        Priority.P3: PriorityTargets(
            first_response=timedelta(hours=2), resolution=timedelta(hours=24)
        ),
        Priority.P4: PriorityTargets(
            first_response=timedelta(hours=8), resolution=timedelta(hours=72)
        ),
    },
)
