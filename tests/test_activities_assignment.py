"""The assign_specialist activity against real databases."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from db_factories import migrated, snapshot, specialist
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.assignment import AssignmentActivities, choose_specialist
from helpdesk.contracts import AssignInput
from helpdesk.db import repository
from helpdesk.db.models import RoutingStateRow
from helpdesk.domain import Category, Priority, Role, SpecialistModel, Stage
from helpdesk.routing import load_routing

ROUTING = load_routing()


def request(
    ticket_id: str = "HD-T00001",
    category: Category = Category.PAYMENT,
    **fields: object,
) -> AssignInput:
    return AssignInput(
        ticket_id=ticket_id, category=category, priority=Priority.P2, **fields
    )


async def add_specialists(
    sessions: async_sessionmaker[AsyncSession], *people: SpecialistModel
) -> None:
    async with sessions.begin() as session:
        for person in people:
            await repository.upsert_specialist(session, person)


async def give_open_tickets(
    sessions: async_sessionmaker[AsyncSession], assignee: str, count: int
) -> None:
    async with sessions.begin() as session:
        for n in range(count):
            await repository.project_ticket(
                session,
                snapshot(f"HD-{assignee[:2].upper()}{n:04d}", assignee=assignee),
                [],
            )


async def test_least_loaded_specialist_is_chosen(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(
            sessions, specialist("ann"), specialist("bob"), specialist("cid")
        )
        await give_open_tickets(sessions, "ann", 2)
        await give_open_tickets(sessions, "bob", 1)
        await give_open_tickets(sessions, "cid", 3)

        result = await AssignmentActivities(sessions, ROUTING).assign_specialist(
            request()
        )

    assert result.role == Role.BACKEND_DEVELOPER
    assert result.assignee is not None
    assert result.assignee.id == "bob"
    assert "1 open tickets" in result.reason


async def test_ties_rotate_round_robin(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(
            sessions, specialist("ann"), specialist("bob"), specialist("cid")
        )
        activities = AssignmentActivities(sessions, ROUTING)

        # Loads stay equal because nothing is projected between the calls.
        picks = []
        for n in range(5):
            result = await activities.assign_specialist(request(f"HD-RR000{n}"))
            assert result.assignee is not None
            picks.append(result.assignee.id)

        async with sessions() as session:
            cursor = await session.scalar(
                select(RoutingStateRow.last_specialist_id).where(
                    RoutingStateRow.role == Role.BACKEND_DEVELOPER.value
                )
            )

    assert picks == ["ann", "bob", "cid", "ann", "bob"]
    assert cursor == "bob"


async def test_off_shift_specialists_are_skipped(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(
            sessions, specialist("ann", on_shift=False), specialist("bob")
        )
        await give_open_tickets(sessions, "bob", 3)

        result = await AssignmentActivities(sessions, ROUTING).assign_specialist(
            request()
        )

    assert result.assignee is not None
    assert result.assignee.id == "bob"


async def test_specialist_at_max_open_tickets_is_skipped(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(
            sessions,
            specialist("ann", max_open_tickets=1),
            specialist("bob", max_open_tickets=4),
        )
        await give_open_tickets(sessions, "bob", 3)
        await give_open_tickets(sessions, "ann", 1)

        result = await AssignmentActivities(sessions, ROUTING).assign_specialist(
            request()
        )

    assert result.assignee is not None
    assert result.assignee.id == "bob"


async def test_resolved_tickets_do_not_count_as_load(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(sessions, specialist("ann"), specialist("bob"))
        async with sessions.begin() as session:
            for n, stage in enumerate([Stage.RESOLVED, Stage.CLOSED, Stage.CLOSED]):
                await repository.project_ticket(
                    session, snapshot(f"HD-DONE0{n}", assignee="ann", stage=stage), []
                )
        await give_open_tickets(sessions, "bob", 1)

        result = await AssignmentActivities(sessions, ROUTING).assign_specialist(
            request()
        )

    assert result.assignee is not None
    assert result.assignee.id == "ann"


async def test_no_candidate_returns_no_assignee(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(
            sessions,
            specialist("ann", max_open_tickets=1),
            specialist("bob", on_shift=False),
            specialist("dev", roles=[Role.DEVOPS_ENGINEER]),
        )
        await give_open_tickets(sessions, "ann", 1)
        activities = AssignmentActivities(sessions, ROUTING)

        full = await activities.assign_specialist(request())
        nobody = await activities.assign_specialist(
            request(category=Category.USER_SYSTEM)
        )

    assert full.assignee is None
    assert full.role == Role.BACKEND_DEVELOPER
    assert "max_open_tickets" in full.reason
    assert nobody.assignee is None
    assert nobody.role == Role.SUPPORT_ENGINEER
    assert "on shift" in nobody.reason


async def test_excluded_specialists_are_skipped(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(sessions, specialist("ann"), specialist("bob"))
        await give_open_tickets(sessions, "bob", 2)

        result = await AssignmentActivities(sessions, ROUTING).assign_specialist(
            request(exclude=["ann"])
        )
        alone = await AssignmentActivities(sessions, ROUTING).assign_specialist(
            request(exclude=["ann", "bob"])
        )

    assert result.assignee is not None
    assert result.assignee.id == "bob"
    assert alone.assignee is None
    assert "besides the 2 excluded" in alone.reason


async def test_reassigned_ticket_does_not_count_against_others(
    database_url: str,
) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(sessions, specialist("ann"), specialist("bob"))
        await give_open_tickets(sessions, "ann", 1)
        async with sessions.begin() as session:
            await repository.project_ticket(
                session, snapshot("HD-MOVE01", assignee="bob"), []
            )

        # Not counting the ticket being assigned, bob has 0 open tickets and
        # ann has 1.
        result = await AssignmentActivities(sessions, ROUTING).assign_specialist(
            request("HD-MOVE01")
        )

    assert result.assignee is not None
    assert result.assignee.id == "bob"


async def test_category_skill_breaks_tie(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(
            sessions,
            specialist("ann", skills=[Category.API_INTEGRATION]),
            specialist("bob", skills=[Category.PAYMENT]),
        )

        first = await AssignmentActivities(sessions, ROUTING).assign_specialist(
            request("HD-SK0001")
        )
        second = await AssignmentActivities(sessions, ROUTING).assign_specialist(
            request("HD-SK0002")
        )

    assert first.assignee is not None
    assert first.assignee.id == "bob"
    assert second.assignee is not None
    assert second.assignee.id == "bob"


async def test_routing_picks_role_and_extra_roles(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(
            sessions,
            specialist("ops", roles=[Role.DEVOPS_ENGINEER]),
            specialist("int", roles=[Role.INTEGRATION_ENGINEER]),
        )
        activities = AssignmentActivities(sessions, ROUTING)

        security = await activities.assign_specialist(
            request(category=Category.SECURITY)
        )
        provider = await activities.assign_specialist(
            request(category=Category.PROVIDER)
        )

    assert security.role == Role.DEVOPS_ENGINEER
    assert security.also_notify == [Role.SUPPORT_MANAGER]
    assert provider.assignee is not None
    assert provider.assignee.id == "int"
    assert provider.also_notify == []


async def test_reassign_to_named_specialist(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(
            sessions,
            specialist("ann"),
            specialist("bob", on_shift=False, max_open_tickets=1),
        )
        await give_open_tickets(sessions, "bob", 1)

        result = await AssignmentActivities(sessions, ROUTING).assign_specialist(
            request(specialist_id="bob")
        )

    assert result.assignee is not None
    assert result.assignee.id == "bob"
    assert result.assignee.role == Role.BACKEND_DEVELOPER
    assert "off shift" in result.reason


async def test_reassign_to_unknown_specialist_raises(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        with pytest.raises(ApplicationError) as caught:
            await AssignmentActivities(sessions, ROUTING).assign_specialist(
                request(specialist_id="no.such.person")
            )

    assert caught.value.type == "NotFound"
    assert caught.value.non_retryable


async def test_retried_assignment_returns_recorded_choice(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(
            sessions, specialist("ann"), specialist("bob"), specialist("cid")
        )
        activities = AssignmentActivities(sessions, ROUTING)
        env = ActivityEnvironment()
        env.info = dataclasses.replace(
            env.info,
            workflow_id="ticket-HD-IDEM01",
            workflow_run_id="run-1",
            activity_id="7",
        )

        first = await env.run(activities.assign_specialist, request("HD-IDEM01"))
        env.info = dataclasses.replace(env.info, attempt=2)
        retry = await env.run(activities.assign_specialist, request("HD-IDEM01"))
        env.info = dataclasses.replace(env.info, activity_id="8", attempt=1)
        next_request = await env.run(activities.assign_specialist, request("HD-IDEM01"))

    assert first.assignee is not None
    assert retry == first
    assert next_request.assignee is not None
    assert next_request.assignee.id != first.assignee.id


def test_choose_specialist_wraps_round_robin() -> None:
    people = [specialist("ann"), specialist("bob"), specialist("cid")]

    after_cid = choose_specialist(people, {}, category=Category.PAYMENT, cursor="cid")
    after_ann = choose_specialist(people, {}, category=Category.PAYMENT, cursor="ann")
    unknown = choose_specialist(people, {}, category=Category.PAYMENT, cursor="bz")

    assert after_cid is not None
    assert after_cid.id == "ann"
    assert after_ann is not None
    assert after_ann.id == "bob"
    assert unknown is not None
    assert unknown.id == "cid"


def test_choose_specialist_without_room_returns_none() -> None:
    people = [specialist("ann", max_open_tickets=2)]

    assert (
        choose_specialist(people, {"ann": 2}, category=Category.PAYMENT, cursor=None)
        is None
    )
    assert choose_specialist([], {}, category=Category.PAYMENT, cursor=None) is None


async def test_concurrent_assignments_share_out_evenly(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_specialists(
            sessions, specialist("ann"), specialist("bob"), specialist("cid")
        )
        activities = AssignmentActivities(sessions, ROUTING)

        # Loads stay equal, so only the round-robin cursor spreads the work;
        # without the per-role lock two requests would read the same cursor.
        results = await asyncio.gather(
            *(
                activities.assign_specialist(request(f"HD-CC00{n:02d}"))
                for n in range(9)
            )
        )

    picks = [result.assignee.id for result in results if result.assignee]
    assert len(picks) == 9
    assert {name: picks.count(name) for name in set(picks)} == {
        "ann": 3,
        "bob": 3,
        "cid": 3,
    }
