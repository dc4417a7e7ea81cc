"""The instants at which a ticket workflow must wake up by itself.

Pure code: the workflow arms one durable timer at the earliest of these
instants, and re-arms whenever an action moves them. Each deadline carries
the label shown on its timer in the Web UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from helpdesk.domain import Priority, Stage
from helpdesk.sla import SlaPolicy, format_duration
from workflows import sla_clock
from workflows.sla_clock import ClockSignal
from workflows.state import TicketState


class DeadlineKind(IntEnum):
    """Kind of deadline. The value orders deadlines that fall at the same instant."""

    SLA = 1
    P1_UNACKNOWLEDGED = 2
    ESCALATION_STEP = 3
    ASSIGNMENT_RETRY = 4
    REOPEN_WINDOW_END = 5


@dataclass(frozen=True)
class Deadline:
    at: datetime
    kind: DeadlineKind
    label: str
    signal: ClockSignal | None = None


def pending_deadlines(state: TicketState, policy: SlaPolicy) -> list[Deadline]:
    """Return every deadline the ticket has, earliest first."""
    deadlines = []
    for clock in state.clocks():
        for signal in sla_clock.pending_signals(clock, policy.warning_thresholds):
            deadlines.append(
                Deadline(signal.at, DeadlineKind.SLA, signal.label, signal)
            )

    first_response = state.first_response
    if (
        state.priority == Priority.P1
        and first_response.running
        and not state.p1_unacknowledged_reported
    ):
        after = policy.escalation.p1_unacknowledged_after
        deadlines.append(
            Deadline(
                first_response.instant_at(after.total_seconds()),
                DeadlineKind.P1_UNACKNOWLEDGED,
                f"P1 unacknowledged for {format_duration(after)}: escalate",
            )
        )

    escalation = state.escalation
    if escalation.active and escalation.next_step_at is not None:
        deadlines.append(
            Deadline(
                escalation.next_step_at,
                DeadlineKind.ESCALATION_STEP,
                f"escalation level {escalation.level + 1}",
            )
        )

    if state.assignment_retry_at is not None and not state.on_hold:
        deadlines.append(
            Deadline(
                state.assignment_retry_at,
                DeadlineKind.ASSIGNMENT_RETRY,
                "retry assignment of a queued ticket",
            )
        )

    if state.stage == Stage.RESOLVED and state.reopen_window_ends_at is not None:
        window = format_duration(policy.reopen_window)
        deadlines.append(
            Deadline(
                state.reopen_window_ends_at,
                DeadlineKind.REOPEN_WINDOW_END,
                f"reopen window {window}: close",
            )
        )

    deadlines.sort(key=lambda deadline: (deadline.at, deadline.kind))
    return deadlines


def next_deadline(state: TicketState, policy: SlaPolicy) -> Deadline | None:
    deadlines = pending_deadlines(state, policy)
    return deadlines[0] if deadlines else None
