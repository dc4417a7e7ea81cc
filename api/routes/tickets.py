"""Ticket intake, reads, the queue and engineers' actions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response, status
from pydantic import StringConstraints
from temporalio.service import RPCError, RPCStatusCode

from api.deps import State
from api.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    SearchAttributeNotRegistered,
    ServiceUnavailable,
    TicketClosed,
    responses,
    validate_body,
)
from api.schemas import (
    ActionBody,
    HistoryRead,
    QueueRead,
    TicketCreate,
    TicketEventRead,
    TicketRead,
)
from api.service import parse_ticket_id
from helpdesk.contracts import ActionRequest
from helpdesk.db.repository import (
    InvalidCursor,
    TicketFilters,
    get_history,
    get_ticket,
    list_tickets,
)
from helpdesk.domain import (
    Category,
    Priority,
    SlaState,
    Stage,
    TicketIntake,
    TicketType,
)

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

TicketId = Annotated[
    str, Path(description="ticket id such as HD-4F7K2Q", examples=["HD-4F7K2Q"])
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="repeat a request safely: the same key with the same body "
        "acts once and later requests get its result; the same key with "
        "another body is rejected with 422. Keys are kept for 24 hours.",
    ),
]
MAX_PAGE = 200


def _now() -> datetime:
    return datetime.now(UTC)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketRead,
    summary="Open a ticket",
    responses={
        200: {
            "model": TicketRead,
            "description": "an open ticket already has this external_ref and "
            "a duplicate report was recorded on it; or a repeat of a request "
            "with the same Idempotency-Key, marked `Idempotent-Replayed: true`, "
            "with the ticket as it is now",
        },
        **responses(
            InvalidRequest,
            IdempotencyKeyReused,
            IdempotencyKeyInUse,
            PayloadTooLarge,
            SearchAttributeNotRegistered,
            ServiceUnavailable,
        ),
    },
)
async def create_ticket(
    body: Annotated[TicketCreate, Body()],
    state: State,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Open a ticket, or return the open ticket with the same external_ref.

    A new ticket is returned as registered (`source: registration`): the
    classifier and the assignment run in its workflow right after, so read
    the ticket again for its type, priority and assignee. A repeat with the
    same Idempotency-Key and body returns 200 with that ticket as it is now.
    """
    intake = validate_body(TicketIntake, body.model_dump())
    result = await state.tickets.open_ticket(intake, idempotency_key)
    response.headers["Location"] = f"/v1/tickets/{result.ticket_id}"
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return TicketRead.from_snapshot(result.snapshot, now=_now(), source=result.source)


@router.get(
    "",
    response_model=QueueRead,
    summary="List the queue, nearest SLA deadline first",
    responses=responses(InvalidRequest, ServiceUnavailable),
)
async def list_queue(
    request: Request,
    state: State,
    stage: Annotated[list[Stage] | None, Query()] = None,
    type: Annotated[list[TicketType] | None, Query()] = None,  # noqa: A002
    category: Annotated[list[Category] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    assignee: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]] | None,
        Query(description='specialist ids, or "unassigned"'),
    ] = None,
    sla_state: Annotated[list[SlaState] | None, Query()] = None,
    on_hold: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> QueueRead:
    """Return one page of tickets from the read model.

    Repeat a filter to match any of its values (`priority=P1&priority=P2`);
    different filters must all match. Tickets without a running SLA clock
    (on hold, resolved, closed) come last.
    """
    _reject_repeated(request, "on_hold", "cursor", "limit")
    filters = TicketFilters(
        stage=stage,
        type=type,
        category=category,
        priority=priority,
        assignee=assignee,
        sla_state=sla_state,
        on_hold=on_hold,
    )
    try:
        async with state.sessions() as session:
            records, next_cursor = await list_tickets(
                session, filters, cursor=cursor, limit=limit
            )
    except InvalidCursor as exc:
        raise InvalidRequest(str(exc), field="cursor") from exc
    now = _now()
    items = [
        TicketRead.from_snapshot(record.snapshot, now=now, source="database")
        for record in records
    ]
    return QueueRead(items=items, next_cursor=next_cursor)


def _reject_repeated(request: Request, *names: str) -> None:
    """Raise InvalidRequest when a single-valued query parameter is repeated."""
    for name in names:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise InvalidRequest(
                f"query parameter {name} is given {len(values)} times: give it once",
                field=name,
            )


@router.get(
    "/{ticket_id}",
    response_model=TicketRead,
    summary="Read a ticket",
    responses=responses(InvalidRequest, NotFound, ServiceUnavailable),
)
async def read_ticket(ticket_id: TicketId, state: State) -> TicketRead:
    """Return the ticket's live state; closed tickets come from the database."""
    canonical = parse_ticket_id(ticket_id)
    view = await state.tickets.get(canonical)
    return TicketRead.from_snapshot(view.snapshot, now=_now(), source=view.source)


@router.get(
    "/{ticket_id}/history",
    response_model=HistoryRead,
    summary="Read a ticket's history",
    responses=responses(InvalidRequest, NotFound, ServiceUnavailable),
)
async def read_history(ticket_id: TicketId, state: State) -> HistoryRead:
    """Return the ticket's events in order, as projected to the database."""
    canonical = parse_ticket_id(ticket_id)
    async with state.sessions() as session:
        events = await get_history(session, canonical)
        known = bool(events) or await get_ticket(session, canonical) is not None
    if not known and not await _workflow_exists(state, canonical):
        raise NotFound(f"ticket {canonical} not found")
    return HistoryRead(
        items=[TicketEventRead.model_validate(e.model_dump()) for e in events]
    )


async def _workflow_exists(state: State, ticket_id: str) -> bool:
    """Tell whether a ticket's workflow exists (started but not projected yet)."""
    try:
        await state.tickets.handle(ticket_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise ServiceUnavailable(
            f"could not look up ticket {ticket_id}: Temporal did not respond ({exc})"
        ) from exc
    return True


@router.post(
    "/{ticket_id}/actions",
    response_model=TicketRead,
    summary="Act on a ticket",
    responses=responses(
        InvalidRequest,
        IdempotencyKeyReused,
        NotFound,
        IllegalTransition,
        TicketClosed,
        ServiceUnavailable,
    ),
)
async def act_on_ticket(
    ticket_id: TicketId,
    body: Annotated[ActionBody, Body()],
    state: State,
    idempotency_key: IdempotencyKey = None,
) -> TicketRead:
    """Acknowledge, diagnose, fix, verify, close, hold, escalate... a ticket.

    `action` selects the fields: `note` is required for diagnose and comment,
    `passed` for verify, `reason` for hold, `priority` for change_priority,
    `assignee` for reassign, and one of `type`, `category`, `priority` for
    reclassify. An illegal move for the ticket's stage returns 409 with the
    reason. Repeating a request with the same Idempotency-Key and body acts
    once and returns the ticket as it is now; the key with another body is
    rejected with 422.
    """
    canonical = parse_ticket_id(ticket_id)
    request = validate_body(ActionRequest, body.model_dump())
    snapshot = await state.tickets.act(canonical, request, idempotency_key)
    return TicketRead.from_snapshot(snapshot, now=_now(), source="workflow")
