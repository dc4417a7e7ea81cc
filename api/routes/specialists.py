"""The specialist roster: who can take tickets, and who is on shift."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response, status

from api.deps import State
from api.errors import InvalidRequest, NotFound, responses, validate_body
from api.schemas import (
    SPECIALIST_ID_PATTERN,
    SpecialistList,
    SpecialistPatch,
    SpecialistWrite,
)
from helpdesk.db.repository import get_specialist, list_specialists, upsert_specialist
from helpdesk.domain import SpecialistModel

router = APIRouter(prefix="/v1/specialists", tags=["specialists"])

SpecialistId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=SPECIALIST_ID_PATTERN,
        description="lower-case id such as ana.k or oncall-devops-1",
    ),
]


def _specialist(values: dict[str, Any]) -> SpecialistModel:
    return validate_body(SpecialistModel, values)


@router.get("", response_model=SpecialistList, summary="List specialists")
async def read_specialists(state: State) -> SpecialistList:
    async with state.sessions() as session:
        return SpecialistList(items=await list_specialists(session))


@router.patch(
    "/{specialist_id}",
    response_model=SpecialistModel,
    summary="Change some fields of a specialist",
    responses=responses(InvalidRequest, NotFound),
)
async def patch_specialist(
    specialist_id: SpecialistId,
    body: Annotated[SpecialistPatch, Body()],
    state: State,
) -> SpecialistModel:
    """Change the given fields, such as `{"on_shift": false}`, and keep the rest.

    A specialist going off shift keeps the tickets it holds; new tickets and
    escalations go to specialists on shift.
    """
    changes = body.model_dump(exclude_unset=True)
    async with state.sessions.begin() as session:
        current = await get_specialist(session, specialist_id, for_update=True)
        if current is None:
            raise NotFound(
                f"specialist {specialist_id} not found: create it with "
                f"PUT /v1/specialists/{specialist_id}",
                field="specialist_id",
            )
        changed = _specialist({**current.model_dump(), **changes})
        stored = await upsert_specialist(session, changed)
    return stored


@router.put(
    "/{specialist_id}",
    response_model=SpecialistModel,
    status_code=status.HTTP_200_OK,
    summary="Create a specialist or replace all of its fields",
    responses={
        201: {"model": SpecialistModel, "description": "created"},
        **responses(InvalidRequest),
    },
)
async def put_specialist(
    specialist_id: SpecialistId,
    body: Annotated[SpecialistWrite, Body()],
    state: State,
    response: Response,
) -> SpecialistModel:
    """Create a specialist or replace all of its fields.

    Fields left out get their defaults; PATCH changes some fields and keeps
    the rest. A specialist going off shift keeps the tickets it holds; new tickets and
    escalations go to specialists on shift.
    """
    specialist = _specialist({"id": specialist_id, **body.model_dump()})
    async with state.sessions.begin() as session:
        existed = await get_specialist(session, specialist_id) is not None
        stored = await upsert_specialist(session, specialist)
    if not existed:
        response.status_code = status.HTTP_201_CREATED
    return stored
