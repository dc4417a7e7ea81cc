"""SLA clock arithmetic, deadlines and action rules, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpdesk.contracts import ActionRequest
from helpdesk.domain import (
    ActionName,
    Channel,
    ClockName,
    HoldReason,
    Priority,
    Reporter,
    ReporterKind,
    SlaState,
    Stage,
    TicketIntake,
)
from helpdesk.sla import DEFAULT_POLICY
from workflows import rules, sla_clock
from workflows.deadlines import DeadlineKind, pending_deadlines
from workflows.sla_clock import SignalKind
from workflows.state import TicketState, new_state, sla_state

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
THRESHOLDS = [0.75, 0.9]


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def p1_first_response() -> sla_clock.ClockState:
    return sla_clock.start_clock(ClockName.FIRST_RESPONSE, Priority.P1, minutes(15), T0)


def ticket(
    priority: Priority = Priority.P1, stage: Stage = Stage.ASSIGNED
) -> TicketState:
    intake = TicketIntake(
        title="Lobby does not load",
        channel=Channel.CHAT,
        reporter=Reporter(kind=ReporterKind.PLAYER),
        priority=priority,
    )
    state = new_state(intake, DEFAULT_POLICY, T0)
    state.stage = stage
    return state


def request(action: ActionName, **fields: object) -> ActionRequest:
    return ActionRequest(action=action, actor="dev.ada", **fields)


def test_clock_due_is_start_plus_target() -> None:
    clock = p1_first_response()

    assert clock.due_at() == T0 + minutes(15)
    assert clock.remaining_seconds(T0 + minutes(5)) == 600


def test_hold_shifts_due_by_hold_time() -> None:
    clock = p1_first_response()

    sla_clock.pause(clock, T0 + minutes(5))
    frozen = clock.remaining_seconds(T0 + minutes(50))
    held = sla_clock.resume(clock, T0 + minutes(65))

    assert frozen == 600
    assert held == 3600
    assert clock.due_at() == T0 + minutes(75)
    assert clock.remaining_seconds(T0 + minutes(65)) == 600


def test_paused_clock_has_no_due_in_view() -> None:
    clock = p1_first_response()
    sla_clock.pause(clock, T0 + minutes(1))

    view = sla_clock.view(clock, T0 + minutes(9))

    assert view.paused
    assert view.due_at is None
    assert view.remaining_seconds == 840


def test_retarget_keeps_time_spent() -> None:
    clock = sla_clock.start_clock(
        ClockName.FIRST_RESPONSE, Priority.P3, minutes(120), T0
    )
    sla_clock.pause(clock, T0 + minutes(5))
    sla_clock.resume(clock, T0 + minutes(15))

    sla_clock.retarget(clock, Priority.P1, minutes(15))

    assert clock.started_at == T0
    assert clock.held_seconds == 600
    assert clock.due_at() == T0 + minutes(25)
    assert clock.label() == "first response SLA, P1, 15m"


def test_retarget_leaves_met_clock_alone() -> None:
    clock = p1_first_response()
    sla_clock.meet(clock, T0 + minutes(3))

    sla_clock.retarget(clock, Priority.P4, minutes(480))

    assert clock.target_seconds == 900
    assert clock.priority == Priority.P1


def test_meet_during_hold_stops_the_pause() -> None:
    clock = p1_first_response()
    sla_clock.pause(clock, T0 + minutes(2))

    sla_clock.meet(clock, T0 + minutes(30))

    assert not clock.paused
    assert clock.held_seconds == 1680
    assert clock.elapsed_seconds(T0 + minutes(90)) == 120


def test_restart_begins_new_cycle() -> None:
    clock = p1_first_response()
    sla_clock.mark_reported(
        clock,
        sla_clock.due_signal(clock, THRESHOLDS, T0 + minutes(16)),
        THRESHOLDS,
        T0 + minutes(16),
    )
    sla_clock.meet(clock, T0 + minutes(20))

    sla_clock.restart(clock, Priority.P1, minutes(15), T0 + minutes(60))

    assert clock.cycle == 2
    assert not clock.breached
    assert not clock.met
    assert clock.warnings == []
    assert clock.due_at() == T0 + minutes(75)


def test_pending_signals_are_warnings_then_breach() -> None:
    signals = sla_clock.pending_signals(p1_first_response(), THRESHOLDS)

    assert [(s.kind, s.threshold, s.at) for s in signals] == [
        (SignalKind.WARNING, 0.75, T0 + timedelta(seconds=675)),
        (SignalKind.WARNING, 0.9, T0 + timedelta(seconds=810)),
        (SignalKind.BREACH, None, T0 + minutes(15)),
    ]
    assert signals[-1].label == "first response SLA, P1, 15m: breach"


def test_due_signal_reports_most_severe_only() -> None:
    clock = p1_first_response()
    now = T0 + minutes(16)

    signal = sla_clock.due_signal(clock, THRESHOLDS, now)
    assert signal is not None
    sla_clock.mark_reported(clock, signal, THRESHOLDS, now)

    assert signal.kind == SignalKind.BREACH
    assert clock.breached_at == now
    assert sla_clock.pending_signals(clock, THRESHOLDS) == []


def test_warning_covers_lower_thresholds() -> None:
    clock = p1_first_response()
    now = T0 + minutes(14)

    signal = sla_clock.due_signal(clock, THRESHOLDS, now)
    assert signal is not None
    sla_clock.mark_reported(clock, signal, THRESHOLDS, now)

    assert signal.threshold == 0.9
    assert clock.warnings == [0.75, 0.9]
    remaining = sla_clock.pending_signals(clock, THRESHOLDS)
    assert [s.kind for s in remaining] == [SignalKind.BREACH]


def test_no_signal_before_first_threshold() -> None:
    assert (
        sla_clock.due_signal(p1_first_response(), THRESHOLDS, T0 + minutes(11)) is None
    )


def test_sla_state_order() -> None:
    state = ticket()
    assert sla_state(state) == SlaState.ON_TRACK

    state.first_response.warnings = [0.75]
    assert sla_state(state) == SlaState.AT_RISK

    state.first_response.breached_at = T0 + minutes(15)
    assert sla_state(state) == SlaState.BREACHED

    state.on_hold = True
    assert sla_state(state) == SlaState.PAUSED


def test_sla_state_of_resolved_ticket() -> None:
    state = ticket(stage=Stage.RESOLVED)
    state.first_response.breached_at = T0 + minutes(15)
    assert sla_state(state) == SlaState.MET

    state.resolution.breached_at = T0 + minutes(300)
    assert sla_state(state) == SlaState.BREACHED


def test_deadlines_of_new_p1_ticket() -> None:
    deadlines = pending_deadlines(ticket(), DEFAULT_POLICY)

    assert [(d.kind, d.at - T0) for d in deadlines] == [
        (DeadlineKind.P1_UNACKNOWLEDGED, minutes(10)),
        (DeadlineKind.SLA, timedelta(seconds=675)),
        (DeadlineKind.SLA, timedelta(seconds=810)),
        (DeadlineKind.SLA, minutes(15)),
        (DeadlineKind.SLA, timedelta(hours=3)),
        (DeadlineKind.SLA, timedelta(hours=3.6)),
        (DeadlineKind.SLA, timedelta(hours=4)),
    ]
    assert deadlines[0].label == "P1 unacknowledged for 10m: escalate"


def test_deadlines_on_hold_are_none() -> None:
    state = ticket()
    for clock in state.clocks():
        sla_clock.pause(clock, T0 + minutes(1))
    state.on_hold = True

    assert pending_deadlines(state, DEFAULT_POLICY) == []


def test_deadline_of_resolved_ticket_is_reopen_window_end() -> None:
    state = ticket(stage=Stage.RESOLVED)
    sla_clock.meet(state.first_response, T0 + minutes(1))
    sla_clock.meet(state.resolution, T0 + minutes(60))
    state.reopen_window_ends_at = T0 + minutes(60) + DEFAULT_POLICY.reopen_window

    deadlines = pending_deadlines(state, DEFAULT_POLICY)

    assert [d.kind for d in deadlines] == [DeadlineKind.REOPEN_WINDOW_END]
    assert deadlines[0].label == "reopen window 3d: close"


@pytest.mark.parametrize(
    ("action", "stage", "message"),
    [
        (
            ActionName.CLOSE,
            Stage.ASSIGNED,
            "cannot close: ticket is in stage assigned; close needs stage resolved",
        ),
        (
            ActionName.SUBMIT_FIX,
            Stage.DIAGNOSTICS,
            "cannot submit_fix: ticket is in stage diagnostics; "
            "submit_fix needs stage correction",
        ),
        (
            ActionName.ACKNOWLEDGE,
            Stage.CORRECTION,
            "cannot acknowledge: ticket is in stage correction; acknowledge needs "
            "stage assigned, or a running escalation in a working stage",
        ),
        (
            ActionName.HOLD,
            Stage.RESOLVED,
            "cannot hold: ticket is in stage resolved; hold needs a working stage",
        ),
        (ActionName.COMMENT, Stage.CLOSED, "cannot comment: ticket is closed"),
    ],
)
def test_illegal_transition_is_rejected(
    action: ActionName, stage: Stage, message: str
) -> None:
    fields = {"reason": HoldReason.WAITING_FOR_REPORTER, "note": "checked"}

    rejection = rules.check_action(
        action, request(action, **fields), ticket(stage=stage), DEFAULT_POLICY, T0
    )

    assert rejection == rules.Rejection(rules.ILLEGAL_TRANSITION, message)


@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        (ActionName.DIAGNOSE, {}, "diagnose needs a note with the cause"),
        (ActionName.DIAGNOSE, {"note": "   "}, "diagnose needs a note with the cause"),
        (ActionName.VERIFY, {}, "verify needs passed: true or false"),
        (ActionName.HOLD, {}, "hold needs a reason (a HoldReason value)"),
        (ActionName.REASSIGN, {}, "reassign needs an assignee (a specialist id)"),
        (ActionName.CHANGE_PRIORITY, {}, "change_priority needs a priority"),
        (
            ActionName.CHANGE_PRIORITY,
            {"priority": Priority.P1},
            "change_priority needs a priority other than the current P1",
        ),
        (
            ActionName.RECLASSIFY,
            {},
            "reclassify needs a type, a category or a priority",
        ),
        (ActionName.COMMENT, {}, "comment needs a note"),
    ],
)
def test_missing_field_is_invalid(
    action: ActionName, fields: dict[str, object], message: str
) -> None:
    rejection = rules.check_action(
        action,
        request(action, **fields),
        ticket(stage=Stage.DIAGNOSTICS),
        DEFAULT_POLICY,
        T0,
    )

    assert rejection == rules.Rejection(rules.INVALID_ACTION, message)


def test_action_must_match_its_update() -> None:
    rejection = rules.check_action(
        ActionName.CLOSE, request(ActionName.REOPEN), ticket(), DEFAULT_POLICY, T0
    )

    assert rejection is not None
    assert rejection.type == rules.INVALID_ACTION


def test_stage_move_on_hold_is_rejected() -> None:
    state = ticket(stage=Stage.DIAGNOSTICS)
    state.on_hold = True
    state.hold_reason = HoldReason.WAITING_FOR_PROVIDER

    rejection = rules.check_action(
        ActionName.DIAGNOSE,
        request(ActionName.DIAGNOSE, note="cache"),
        state,
        DEFAULT_POLICY,
        T0,
    )

    assert rejection == rules.Rejection(
        rules.ILLEGAL_TRANSITION,
        "cannot diagnose: ticket is on hold (waiting_for_provider); resume it first",
    )


def test_acknowledge_allowed_while_ladder_runs() -> None:
    state = ticket(stage=Stage.CORRECTION)
    state.escalation.active = True

    rejection = rules.check_action(
        ActionName.ACKNOWLEDGE,
        request(ActionName.ACKNOWLEDGE),
        state,
        DEFAULT_POLICY,
        T0,
    )

    assert rejection is None


def test_reopen_after_window_is_rejected() -> None:
    state = ticket(stage=Stage.RESOLVED)
    state.reopen_window_ends_at = T0

    rejection = rules.check_action(
        ActionName.REOPEN, request(ActionName.REOPEN), state, DEFAULT_POLICY, T0
    )

    assert rejection is not None
    assert rejection.type == rules.ILLEGAL_TRANSITION
    assert "reopen window ended" in rejection.message


def test_escalate_at_max_level_is_rejected() -> None:
    state = ticket()
    state.escalation.level = DEFAULT_POLICY.escalation.max_level

    rejection = rules.check_action(
        ActionName.ESCALATE, request(ActionName.ESCALATE), state, DEFAULT_POLICY, T0
    )

    assert rejection == rules.Rejection(
        rules.ILLEGAL_TRANSITION,
        "cannot escalate: ticket is already at the maximum escalation level 5",
    )


def test_seen_update_ids_are_bounded() -> None:
    state = ticket()

    for number in range(600):
        state.remember_update(f"update-{number}")

    assert len(state.seen_update_ids) == 500
    assert state.seen_update_ids[0] == "update-100"


def test_state_survives_json_round_trip() -> None:
    state = ticket()
    sla_clock.pause(state.first_response, T0 + minutes(3))
    state.escalation.passed_over = ["dev.ada"]

    again = TicketState.model_validate(state.model_dump(mode="json"))

    assert again == state
