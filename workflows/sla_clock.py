"""SLA clock arithmetic: due instants, hold time, warnings and breaches.

Pure code with no I/O and no Temporal calls, so the ticket workflow can use
it inside the sandbox and tests can check it without a server. Every
function takes the current instant as an argument; the workflow passes
`workflow.now()`.

A clock runs from `started_at` for `target_seconds` of active time. Time on
hold does not count: `held_seconds` sums finished holds and `paused_since`
marks a hold in progress, so the due instant is
`started_at + target + held`. A clock is met when its goal is reached
(acknowledge for first response, resolved for resolution) and is breached
once its due instant passes while unmet. Both happen at most once per
cycle; a reopen starts a new cycle of the resolution clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from helpdesk.contracts import SlaClockView
from helpdesk.domain import ClockName, Priority
from helpdesk.sla import format_duration


class ClockState(BaseModel):
    """One SLA clock as the workflow carries it."""

    model_config = ConfigDict(extra="forbid")

    name: ClockName
    priority: Priority
    target_seconds: float = Field(gt=0)
    started_at: datetime
    held_seconds: float = 0.0
    paused_since: datetime | None = None
    met_at: datetime | None = None
    breached_at: datetime | None = None
    # Warning thresholds (fractions of the target) already reported this cycle.
    warnings: list[float] = Field(default_factory=list)
    cycle: int = 1

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    @property
    def met(self) -> bool:
        return self.met_at is not None

    @property
    def breached(self) -> bool:
        return self.breached_at is not None

    @property
    def running(self) -> bool:
        """True while the clock counts time: not met and not on hold."""
        return not self.met and not self.paused

    def instant_at(self, active_seconds: float) -> datetime:
        """Return the instant at which the clock will have run `active_seconds`.

        Only finished holds shift it; while paused, the result assumes the
        clock resumes now, so callers ask only about running clocks.
        """
        return self.started_at + timedelta(seconds=active_seconds + self.held_seconds)

    def due_at(self) -> datetime:
        return self.instant_at(self.target_seconds)

    def elapsed_seconds(self, now: datetime) -> float:
        """Active time spent so far (up to the met instant once met)."""
        end = self.met_at or self.paused_since or now
        return (end - self.started_at).total_seconds() - self.held_seconds

    def remaining_seconds(self, now: datetime) -> float:
        """Active time left before the breach; negative once overdue."""
        return self.target_seconds - self.elapsed_seconds(now)

    def label(self) -> str:
        """Return a label such as `first response SLA, P1, 15m`."""
        title = self.name.value.replace("_", " ")
        target = format_duration(timedelta(seconds=self.target_seconds))
        return f"{title} SLA, {self.priority.value}, {target}"


def start_clock(
    name: ClockName, priority: Priority, target: timedelta, started_at: datetime
) -> ClockState:
    return ClockState(
        name=name,
        priority=priority,
        target_seconds=target.total_seconds(),
        started_at=started_at,
    )


def pause(clock: ClockState, now: datetime) -> None:
    if clock.paused_since is None and not clock.met:
        clock.paused_since = now


def resume(clock: ClockState, now: datetime) -> float:
    """Un-pause the clock and return the seconds it spent paused."""
    if clock.paused_since is None:
        return 0.0
    held = (now - clock.paused_since).total_seconds()
    clock.held_seconds += held
    clock.paused_since = None
    return held


def retarget(clock: ClockState, priority: Priority, target: timedelta) -> None:
    """Give an unmet clock a new target, keeping its start and hold time.

    The active time already spent counts against the new target, so a P3
    ticket raised to P1 after 20 minutes has the P1 target minus 20 minutes
    left. Warnings and a breach already reported stay reported.
    """
    if clock.met:
        return
    clock.priority = priority
    clock.target_seconds = target.total_seconds()


def meet(clock: ClockState, now: datetime) -> None:
    if clock.met:
        return
    if clock.paused_since is not None:
        resume(clock, now)
    clock.met_at = now


def restart(
    clock: ClockState, priority: Priority, target: timedelta, now: datetime
) -> None:
    """Start a new cycle from `now` with the full target (a reopened ticket)."""
    clock.cycle += 1
    clock.priority = priority
    clock.target_seconds = target.total_seconds()
    clock.started_at = now
    clock.held_seconds = 0.0
    clock.paused_since = None
    clock.met_at = None
    clock.breached_at = None
    clock.warnings = []


class SignalKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"


@dataclass(frozen=True)
class ClockSignal:
    """A warning or breach instant of one clock that is still to be reported."""

    clock: ClockName
    kind: SignalKind
    at: datetime
    threshold: float | None
    label: str


def pending_signals(clock: ClockState, thresholds: list[float]) -> list[ClockSignal]:
    """Return the unreported warning and breach instants of a running clock.

    The list is in time order. A met or paused clock has none: a paused
    clock's instants move when it resumes.
    """
    if not clock.running or clock.breached:
        return []
    base = clock.label()
    signals = []
    for threshold in thresholds:
        if threshold in clock.warnings:
            continue
        signals.append(
            ClockSignal(
                clock=clock.name,
                kind=SignalKind.WARNING,
                at=clock.instant_at(clock.target_seconds * threshold),
                threshold=threshold,
                label=f"{base}: warning {round(threshold * 100)}%",
            )
        )
    signals.append(
        ClockSignal(
            clock=clock.name,
            kind=SignalKind.BREACH,
            at=clock.due_at(),
            threshold=None,
            label=f"{base}: breach",
        )
    )
    return signals


def due_signal(
    clock: ClockState, thresholds: list[float], now: datetime
) -> ClockSignal | None:
    """Return the most severe signal of the clock whose instant has passed.

    When several instants have passed at once (a priority change that leaves
    less time than already spent), only the most severe one is reported:
    the breach, else the highest warning. `mark_reported` then marks the
    lesser ones done too, so a ticket never gets a 75% warning after its
    breach.
    """
    due = [signal for signal in pending_signals(clock, thresholds) if signal.at <= now]
    if not due:
        return None
    return max(due, key=lambda signal: (signal.kind == SignalKind.BREACH, signal.at))


def mark_reported(
    clock: ClockState, signal: ClockSignal, thresholds: list[float], now: datetime
) -> None:
    """Record a reported signal; a warning also covers the lower thresholds."""
    if signal.kind == SignalKind.BREACH:
        clock.breached_at = now
        return
    assert signal.threshold is not None
    for threshold in [t for t in thresholds if t <= signal.threshold]:
        if threshold not in clock.warnings:
            clock.warnings.append(threshold)
    clock.warnings.sort()


def view(clock: ClockState, now: datetime) -> SlaClockView:
    """Return the clock as shown to engineers; `due_at` is None while paused."""
    return SlaClockView(
        name=clock.name.value,
        target_seconds=clock.target_seconds,
        started_at=clock.started_at,
        due_at=None if clock.paused else clock.due_at(),
        remaining_seconds=round(clock.remaining_seconds(now), 3),
        paused=clock.paused,
        met_at=clock.met_at,
        breached_at=clock.breached_at,
        breached=clock.breached,
        warnings=list(clock.warnings),
        cycle=clock.cycle,
    )
