"""The specialist roster: who can take tickets, and who is on shift."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status
from pydantic import ValidationError

from api.deps import State
from api.errors import InvalidRequest, responses
from api.schemas import SPECIALIST_ID_PATTERN, SpecialistList, SpecialistWrite
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


@router.get("", response_model=SpecialistList, summary="List specialists")
async def read_specialists(state: State) -> SpecialistList:
    async with state.sessions() as session:
        return SpecialistList(items=await list_specialists(session))


@router.put(
    "/{specialist_id}",
    response_model=SpecialistModel,
    status_code=status.HTTP_200_OK,
    summary="Create or update a specialist",
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
    """Create a specialist or replace all of its fields (e.g. `on_shift`).

    A specialist going off shift keeps the tickets it holds; new tickets and
    escalations go to specialists on shift.
    """
    try:
        specialist = SpecialistModel(id=specialist_id, **body.model_dump())
    except ValidationError as exc:
        raise InvalidRequest(str(exc)) from exc
    async with state.sessions.begin() as session:
        existed = await get_specialist(session, specialist_id) is not None
        stored = await upsert_specialist(session, specialist)
    if not existed:
        response.status_code = status.HTTP_201_CREATED
    return stored
