"""The `assign_specialist` activity: pick who works a ticket.

The workflow decides when to assign and what to do without a specialist;
this activity only chooses, from the database, under the rules below.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from helpdesk.contracts import ASSIGN_SPECIALIST, AssignInput, AssignResult
from helpdesk.db import repository
from helpdesk.domain import Assignee, Category, Role, SpecialistModel
from helpdesk.routing import Routing

log = structlog.get_logger("helpdesk.activities.assignment")


def choose_specialist(
    candidates: Sequence[SpecialistModel],
    loads: dict[str, int],
    *,
    category: Category,
    cursor: str | None,
) -> SpecialistModel | None:
    """Pick the specialist for a ticket, or None if nobody has room.

    1. Skip specialists at their `max_open_tickets`.
    2. Keep those with the fewest open tickets.
    3. Among them, keep those with `category` in their skills, if any has it.
    4. Break the remaining tie round-robin: the first id after `cursor`
       (the id picked last on a tie for this role), wrapping around.
    """
    available = [s for s in candidates if loads.get(s.id, 0) < s.max_open_tickets]
    if not available:
        return None
    lowest = min(loads.get(s.id, 0) for s in available)
    tied = [s for s in available if loads.get(s.id, 0) == lowest]
    skilled = [s for s in tied if category in s.skills]
    ring = sorted(skilled or tied, key=lambda s: s.id)
    if cursor is not None:
        for specialist in ring:
            if specialist.id > cursor:
                return specialist
    return ring[0]


def _request_key() -> str | None:
    """Return a key naming this activity execution, the same on every retry."""
    if not activity.in_activity():
        return None
    info = activity.info()
    return f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"


class AssignmentActivities:
    """Holds the database and routing table that `assign_specialist` needs."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], routing: Routing
    ) -> None:
        self._sessions = sessions
        self._routing = routing

    @activity.defn(name=ASSIGN_SPECIALIST)
    async def assign_specialist(self, request: AssignInput) -> AssignResult:
        """Choose the specialist for a ticket.

        With `specialist_id` set, that specialist is taken whatever its load
        or shift; an unknown id raises a non-retryable ApplicationError of
        type "NotFound". Otherwise the role comes from routing.yaml and
        `choose_specialist` picks among its on-shift members, minus
        `exclude`. Without a candidate the result has `assignee=None`.

        Idempotent: the choice is recorded under the workflow run and
        activity id, which a retry keeps, so a retry returns the recorded
        choice instead of advancing the round-robin cursor again. Outside a
        Temporal activity (direct calls) nothing is recorded.

        Recommended call options: start_to_close_timeout=10s, retry with
        initial_interval=1s, backoff_coefficient=2, maximum_interval=30s,
        maximum_attempts=10, non_retryable_error_types=["NotFound"].
        """
        route = self._routing.route(request.category)
        async with self._sessions.begin() as session:
            if request.specialist_id is not None:
                result = await self._assign_named(session, request)
            else:
                result = await self._assign_least_loaded(session, request)

        log.info(
            "ticket.assignment.decided",
            ticket_id=request.ticket_id,
            role=result.role.value,
            assignee=result.assignee.id if result.assignee else None,
            reason=result.reason,
        )
        return result.model_copy(update={"also_notify": list(route.also_notify)})

    async def _assign_named(
        self, session: AsyncSession, request: AssignInput
    ) -> AssignResult:
        assert request.specialist_id is not None
        specialist = await repository.get_specialist(session, request.specialist_id)
        if specialist is None:
            raise ApplicationError(
                f"specialist {request.specialist_id!r} not found",
                type="NotFound",
                non_retryable=True,
            )
        routed_role = self._routing.route(request.category).role
        role = routed_role if routed_role in specialist.roles else specialist.roles[0]
        reason = f"reassigned to {specialist.id}"
        if not specialist.on_shift:
            reason += " (off shift)"
        return AssignResult(
            role=role,
            assignee=Assignee(id=specialist.id, name=specialist.name, role=role),
            reason=reason,
        )

    async def _assign_least_loaded(
        self, session: AsyncSession, request: AssignInput
    ) -> AssignResult:
        role = self._routing.route(request.category).role
        # Locks the role's cursor first, so concurrent assignments to one
        # role run one after another and each sees the previous pick.
        cursor = await repository.lock_routing_cursor(session, role)

        key = _request_key()
        if key is not None:
            recorded = await repository.get_assignment_decision(
                session, request.ticket_id, key
            )
            if recorded is not None:
                return AssignResult.model_validate(recorded)

        on_shift = await repository.list_specialists_with_role(session, role)
        excluded = set(request.exclude)
        candidates = [s for s in on_shift if s.id not in excluded]
        loads = await repository.open_ticket_counts(
            session, excluding_ticket=request.ticket_id
        )
        chosen = choose_specialist(
            candidates, loads, category=request.category, cursor=cursor
        )
        result = _result(
            role, chosen, candidates, loads, excluded=len(on_shift) - len(candidates)
        )

        if chosen is not None:
            await repository.set_routing_cursor(session, role, chosen.id)
        if key is not None:
            stored = await repository.record_assignment_decision(
                session,
                request.ticket_id,
                key,
                role=role,
                assignee_id=chosen.id if chosen else None,
                result=result.model_dump(mode="json"),
            )
            result = AssignResult.model_validate(stored)
        return result


def _result(
    role: Role,
    chosen: SpecialistModel | None,
    candidates: Sequence[SpecialistModel],
    loads: dict[str, int],
    *,
    excluded: int,
) -> AssignResult:
    if chosen is None:
        if candidates:
            reason = (
                f"all {len(candidates)} on-shift {role.value} specialists are at "
                "their max_open_tickets"
            )
        elif excluded:
            reason = (
                f"no on-shift {role.value} specialist besides the {excluded} excluded"
            )
        else:
            reason = f"no {role.value} specialist is on shift"
        return AssignResult(role=role, assignee=None, reason=reason)
    load = loads.get(chosen.id, 0)
    return AssignResult(
        role=role,
        assignee=Assignee(id=chosen.id, name=chosen.name, role=role),
        reason=f"least-loaded on-shift {role.value} ({load} open tickets)",
    )
