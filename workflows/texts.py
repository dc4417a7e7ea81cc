"""Texts a ticket workflow shows: its Web UI status and notification bodies.

Pure functions of the ticket state, so the workflow builds the same text on
every replay.
"""

from __future__ import annotations

from helpdesk.domain import Stage, TicketEvent
from workflows.state import TicketState, sla_state


def status_markdown(ticket_id: str, state: TicketState) -> str:
    """Return the Web UI status of a ticket.

    It shows ids, type, category, stage, priority and due times only, because the Web UI
    stores it unencrypted: no titles, names or reporter details.
    """
    assignee = state.assignee.id if state.assignee else "unassigned"
    lines = [
        f"**{ticket_id}** · {state.priority.value} {state.type.value} "
        f"({state.category.value}) · "
        f"stage `{state.stage.value}` · assignee `{assignee}` · "
        f"SLA `{sla_state(state).value}`",
        "",
    ]
    for clock in state.clocks():
        title = clock.name.value.replace("_", " ")
        if clock.met_at is not None:
            status = f"met {clock.met_at:%Y-%m-%d %H:%M:%S}Z"
        elif clock.paused:
            status = "paused"
        else:
            status = f"due {clock.due_at():%Y-%m-%d %H:%M:%S}Z"
        if clock.breached:
            status += " (breached)"
        lines.append(f"- {title} (cycle {clock.cycle}): {status}")

    escalation = state.escalation
    if escalation.level:
        running = "running" if escalation.active else "stopped"
        lines.append(f"- escalation level {escalation.level} ({running})")
    if state.on_hold and state.hold_reason:
        lines.append(f"- on hold: {state.hold_reason.value}")
    if state.reopen_window_ends_at is not None and state.stage == Stage.RESOLVED:
        lines.append(
            f"- reopen window ends {state.reopen_window_ends_at:%Y-%m-%d %H:%M}Z"
        )
    return "\n".join(lines)


def notification_body(
    ticket_id: str, title: str, state: TicketState, cause: TicketEvent, kind: str
) -> str:
    """Return the text of a notification about `cause` for a specialist."""
    lines = [
        f"Ticket {ticket_id} ({state.priority.value}, {state.category.value})"
        f" is in stage {state.stage.value}: {kind}.",
        f"Title: {title}",
    ]
    for clock in state.clocks():
        if not clock.met:
            lines.append(f"{clock.label()} due {clock.due_at().isoformat()}")
    if "level" in cause.details:
        lines.append(f"Escalation level {cause.details['level']}.")
    return "\n".join(lines)
