"""Shared state of the routes: settings, Temporal client, database sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.service import TicketService
from helpdesk.settings import Settings


@dataclass(frozen=True)
class AppState:
    settings: Settings
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    tickets: TicketService


def app_state(request: Request) -> AppState:
    state = request.app.state.helpdesk
    assert isinstance(state, AppState)
    return state


State = Annotated[AppState, Depends(app_state)]
