"""Which engineer actions a ticket accepts in its current state.

Pure code shared by the update validators (which reject before anything is
written) and the update handlers (which check again once they hold the
ticket lock, because an earlier action may have moved the ticket since).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from helpdesk.contracts import ActionRequest, DuplicateReport
from helpdesk.domain import WORKING_STAGES, ActionName, Stage
from helpdesk.sla import SlaPolicy
from workflows.state import TicketState

ILLEGAL_TRANSITION = "IllegalTransition"
INVALID_ACTION = "InvalidAction"
NOT_FOUND = "NotFound"

# Stages in which the ticket can be routed, re-prioritised and escalated:
# classified (possibly queued for a specialist) and the working stages.
ROUTABLE_STAGES = frozenset({Stage.CLASSIFIED, *WORKING_STAGES})

# Actions that move the ticket to another stage; a ticket on hold must be
# resumed first.
_STAGE_MOVES = {
    ActionName.DIAGNOSE: (Stage.DIAGNOSTICS, Stage.CORRECTION),
    ActionName.SUBMIT_FIX: (Stage.CORRECTION, Stage.SOLUTION_CHECK),
    ActionName.VERIFY: (Stage.SOLUTION_CHECK, None),
    ActionName.CLOSE: (Stage.RESOLVED, Stage.CLOSED),
    ActionName.REOPEN: (Stage.RESOLVED, Stage.DIAGNOSTICS),
}


@dataclass(frozen=True)
class Rejection:
    """Why an action is rejected; `type` becomes the ApplicationError type."""

    type: str
    message: str


def _illegal(message: str) -> Rejection:
    return Rejection(ILLEGAL_TRANSITION, message)


def _invalid(message: str) -> Rejection:
    return Rejection(INVALID_ACTION, message)


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def check_fields(request: ActionRequest, state: TicketState) -> Rejection | None:
    """Reject a request that lacks a field its action needs (InvalidAction)."""
    action = request.action
    if action == ActionName.DIAGNOSE and _blank(request.note):
        return _invalid("diagnose needs a note with the cause")
    if action == ActionName.COMMENT and _blank(request.note):
        return _invalid("comment needs a note")
    if action == ActionName.VERIFY and request.passed is None:
        return _invalid("verify needs passed: true or false")
    if action == ActionName.HOLD and request.reason is None:
        return _invalid("hold needs a reason (a HoldReason value)")
    if action == ActionName.REASSIGN:
        if _blank(request.assignee):
            return _invalid("reassign needs an assignee (a specialist id)")
        if state.assignee is not None and request.assignee == state.assignee.id:
            return _invalid(
                f"reassign needs another specialist: the ticket is already "
                f"assigned to {request.assignee}"
            )
    if action == ActionName.CHANGE_PRIORITY:
        if request.priority is None:
            return _invalid("change_priority needs a priority")
        if request.priority == state.priority:
            return _invalid(
                f"change_priority needs a priority other than the current "
                f"{state.priority.value}"
            )
    if action == ActionName.RECLASSIFY:
        given = {
            "type": request.type,
            "category": request.category,
            "priority": request.priority,
        }
        if all(value is None for value in given.values()):
            return _invalid("reclassify needs a type, a category or a priority")
        current = {
            "type": state.type,
            "category": state.category,
            "priority": state.priority,
        }
        if all(value in (None, current[key]) for key, value in given.items()):
            return _invalid(
                "reclassify changes nothing: the type, category and priority "
                "given are the current ones"
            )
    return None


def _needs_stage(action: ActionName, stage: Stage, needed: str) -> Rejection:
    return _illegal(
        f"cannot {action.value}: ticket is in stage {stage.value}; "
        f"{action.value} needs {needed}"
    )


def check_stage(
    request: ActionRequest, state: TicketState, policy: SlaPolicy, now: datetime
) -> Rejection | None:
    """Reject an action the ticket's stage does not allow (IllegalTransition)."""
    action = request.action
    stage = state.stage
    if stage == Stage.CLOSED:
        return _illegal(f"cannot {action.value}: ticket is closed")

    if action in _STAGE_MOVES:
        needed, _ = _STAGE_MOVES[action]
        if stage != needed:
            return _needs_stage(action, stage, f"stage {needed.value}")
        if state.on_hold:
            return _on_hold(action, state)
        if action == ActionName.REOPEN:
            ends = state.reopen_window_ends_at
            if ends is not None and now >= ends:
                return _illegal(
                    f"cannot reopen: the reopen window ended at {ends.isoformat()}"
                )
        return None

    if action == ActionName.ACKNOWLEDGE:
        if stage == Stage.ASSIGNED:
            return _on_hold(action, state) if state.on_hold else None
        if stage in WORKING_STAGES and state.escalation.active:
            return None
        return _needs_stage(
            action,
            stage,
            "stage assigned, or a running escalation in a working stage",
        )

    if action == ActionName.HOLD:
        if stage not in WORKING_STAGES:
            return _needs_stage(action, stage, "a working stage")
        if state.on_hold:
            reason = state.hold_reason.value if state.hold_reason else "unknown"
            return _illegal(f"cannot hold: ticket is already on hold ({reason})")
        return None

    if action == ActionName.RESUME:
        if not state.on_hold:
            return _illegal("cannot resume: ticket is not on hold")
        return None

    if action in (
        ActionName.REASSIGN,
        ActionName.CHANGE_PRIORITY,
        ActionName.RECLASSIFY,
        ActionName.ESCALATE,
    ):
        if stage not in ROUTABLE_STAGES:
            return _needs_stage(action, stage, "stage classified or a working stage")
        max_level = policy.escalation.max_level
        if action == ActionName.ESCALATE and state.escalation.level >= max_level:
            return _illegal(
                f"cannot escalate: ticket is already at the maximum escalation "
                f"level {max_level}"
            )
        return None

    # A comment is legal in every stage but closed, which returned above.
    return None


def _on_hold(action: ActionName, state: TicketState) -> Rejection:
    reason = state.hold_reason.value if state.hold_reason else "unknown"
    return _illegal(
        f"cannot {action.value}: ticket is on hold ({reason}); resume it first"
    )


def check_action(
    name: ActionName,
    request: ActionRequest,
    state: TicketState,
    policy: SlaPolicy,
    now: datetime,
) -> Rejection | None:
    """Return why the action is rejected, or None when it is legal.

    `name` is the update the request arrived on; the request must name the
    same action. Missing fields are reported before stage conflicts, so a
    caller fixes its payload first.
    """
    if request.action != name:
        return _invalid(
            f"the {name.value} update got a request for action "
            f"{request.action.value}: send each action to its own update"
        )
    return check_fields(request, state) or check_stage(request, state, policy, now)


def check_duplicate(report: DuplicateReport, state: TicketState) -> Rejection | None:
    if state.stage == Stage.CLOSED:
        return _illegal("cannot report a duplicate: ticket is closed")
    if _blank(report.external_ref):
        return _invalid("report_duplicate needs an external_ref")
    return None


def target_stage(action: ActionName, request: ActionRequest) -> Stage | None:
    """Return the stage a stage-moving action leads to, None for the others."""
    if action == ActionName.VERIFY:
        return Stage.RESOLVED if request.passed else Stage.CORRECTION
    move = _STAGE_MOVES.get(action)
    return move[1] if move else None
