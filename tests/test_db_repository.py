"""Repository functions on real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from db_factories import T0, events, migrated, snapshot, specialist
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.db import repository
from helpdesk.db.models import TicketEventRow, TicketRow
from helpdesk.db.repository import InvalidCursor, TicketFilters
from helpdesk.domain import Category, Priority, SlaState, Stage


async def test_projection_twice_leaves_one_row_per_event(database_url: str) -> None:
    ticket = snapshot("HD-AAAAA1", last_seq=3)
    async with migrated(database_url) as (_, sessions):
        for _ in range(2):
            async with sessions.begin() as session:
                await repository.project_ticket(session, ticket, events(1, 3))

        async with sessions() as session:
            event_rows = await session.scalar(
                select(func.count()).select_from(TicketEventRow)
            )
            ticket_rows = await session.scalar(
                select(func.count()).select_from(TicketRow)
            )
            history = await repository.get_history(session, "HD-AAAAA1")

    assert event_rows == 3
    assert ticket_rows == 1
    assert [event.seq for event in history] == [1, 2, 3]


async def test_projection_reports_what_it_wrote(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            first = await repository.project_ticket(
                session, snapshot("HD-AAAAA2", last_seq=2), events(1, 2)
            )
        async with sessions.begin() as session:
            repeat = await repository.project_ticket(
                session, snapshot("HD-AAAAA2", last_seq=2), events(1, 2)
            )

    assert first.ticket_updated
    assert first.events_inserted == 2
    assert repeat.events_inserted == 0


async def test_older_snapshot_does_not_roll_ticket_back(database_url: str) -> None:
    newer = snapshot("HD-AAAAA3", last_seq=5, stage=Stage.DIAGNOSTICS)
    older = snapshot("HD-AAAAA3", last_seq=3, stage=Stage.ASSIGNED)
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            await repository.project_ticket(session, newer, events(1, 5))
        async with sessions.begin() as session:
            outcome = await repository.project_ticket(session, older, events(1, 3))
        async with sessions() as session:
            record = await repository.get_ticket(session, "HD-AAAAA3")

    assert not outcome.ticket_updated
    assert record is not None
    assert record.last_seq == 5
    assert record.stage == Stage.DIAGNOSTICS
    assert record.snapshot.stage == Stage.DIAGNOSTICS


async def test_same_seq_snapshot_overwrites_ticket(database_url: str) -> None:
    # A retried projection of the same change writes the same row again.
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            await repository.project_ticket(
                session, snapshot("HD-AAAAA4", last_seq=2), events(1, 2)
            )
        async with sessions.begin() as session:
            outcome = await repository.project_ticket(
                session,
                snapshot("HD-AAAAA4", last_seq=2, assignee="grace.okafor"),
                [],
            )
        async with sessions() as session:
            record = await repository.get_ticket(session, "HD-AAAAA4")

    assert outcome.ticket_updated
    assert record is not None
    assert record.assignee_id == "grace.okafor"


async def test_ticket_record_round_trips_snapshot(database_url: str) -> None:
    original = snapshot(
        "HD-AAAAA5", last_seq=4, assignee="hiro.tanaka", external_ref="ZD-1001"
    )
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            await repository.project_ticket(session, original, events(1, 4))
        async with sessions() as session:
            record = await repository.get_ticket(session, "HD-AAAAA5")
            missing = await repository.get_ticket(session, "HD-ZZZZZZ")

    assert record is not None
    assert record.snapshot == original
    assert record.assignee_id == "hiro.tanaka"
    assert record.external_ref == "ZD-1001"
    assert record.next_deadline == T0 + timedelta(minutes=30)
    assert record.created_at == T0
    assert missing is None


async def test_history_keeps_event_fields(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            await repository.project_ticket(
                session, snapshot("HD-AAAAA6", last_seq=2), events(1, 2)
            )
        async with sessions() as session:
            history = await repository.get_history(session, "HD-AAAAA6")
            unknown = await repository.get_history(session, "HD-ZZZZZZ")

    assert history == events(1, 2)
    assert unknown == []


def test_next_deadline_picks_earliest_running_clock() -> None:
    running = snapshot("HD-D00001", first_response_in=timedelta(minutes=15))
    first_met = snapshot(
        "HD-D00002", first_response_in=timedelta(minutes=15), first_response_met=True
    )
    on_hold = snapshot("HD-D00003", on_hold=True)
    resolved = snapshot("HD-D00004", stage=Stage.RESOLVED)

    assert repository.next_deadline(running) == T0 + timedelta(minutes=15)
    assert repository.next_deadline(first_met) == T0 + timedelta(hours=8)
    assert repository.next_deadline(on_hold) is None
    assert repository.next_deadline(resolved) is None


async def _project_queue(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """Store a queue of tickets; return their ids in the expected order."""
    queue = [
        # (id, minutes to first response due, on hold)
        ("HD-Q00005", 5, False),
        ("HD-Q00001", 10, False),
        ("HD-Q00003", 10, False),
        ("HD-Q00002", 10, False),
        ("HD-Q00004", -20, False),  # breached: its due time has passed
        ("HD-Q00009", None, True),
        ("HD-Q00007", None, True),
        ("HD-Q00008", 60, False),
    ]
    async with sessions.begin() as session:
        for ticket_id, minutes, on_hold in queue:
            due = timedelta(minutes=minutes) if minutes is not None else None
            await repository.project_ticket(
                session,
                snapshot(ticket_id, first_response_in=due, on_hold=on_hold),
                [],
            )
    return [
        "HD-Q00004",
        "HD-Q00005",
        "HD-Q00001",
        "HD-Q00002",
        "HD-Q00003",
        "HD-Q00008",
        "HD-Q00007",
        "HD-Q00009",
    ]


async def test_queue_sorts_nearest_deadline_first(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        expected = await _project_queue(sessions)
        async with sessions() as session:
            rows, next_cursor = await repository.list_tickets(session, limit=50)

    assert [row.id for row in rows] == expected
    assert next_cursor is None


@pytest.mark.parametrize("page_size", [1, 2, 3, 5, 7])
async def test_queue_pages_cover_every_ticket_once(
    database_url: str, page_size: int
) -> None:
    async with migrated(database_url) as (_, sessions):
        expected = await _project_queue(sessions)
        seen: list[str] = []
        cursor = None
        pages = 0
        async with sessions() as session:
            while True:
                rows, cursor = await repository.list_tickets(
                    session, cursor=cursor, limit=page_size
                )
                seen += [row.id for row in rows]
                pages += 1
                if cursor is None:
                    break

    assert seen == expected
    assert pages == -(-len(expected) // page_size)


async def test_queue_filters(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            for ticket in (
                snapshot("HD-F00001", assignee="grace.okafor", priority=Priority.P1),
                snapshot(
                    "HD-F00002",
                    category=Category.INFRASTRUCTURE,
                    stage=Stage.DIAGNOSTICS,
                ),
                snapshot("HD-F00003", on_hold=True, sla_state=SlaState.PAUSED),
                snapshot(
                    "HD-F00004",
                    sla_state=SlaState.BREACHED,
                    assignee="hiro.tanaka",
                ),
            ):
                await repository.project_ticket(session, ticket, [])

        async def ids(**filters: object) -> list[str]:
            async with sessions() as session:
                rows, _ = await repository.list_tickets(
                    session, TicketFilters.model_validate(filters)
                )
            return sorted(row.id for row in rows)

        assert await ids(priority="P1") == ["HD-F00001"]
        assert await ids(category="infrastructure") == ["HD-F00002"]
        assert await ids(stage="diagnostics") == ["HD-F00002"]
        assert await ids(on_hold=True) == ["HD-F00003"]
        assert await ids(sla_state="breached") == ["HD-F00004"]
        assert await ids(assignee="grace.okafor") == ["HD-F00001"]
        assert await ids(assignee="unassigned") == ["HD-F00002", "HD-F00003"]
        assert await ids(type="payment_issue", on_hold=False) == [
            "HD-F00001",
            "HD-F00002",
            "HD-F00004",
        ]


@pytest.mark.parametrize(
    "cursor",
    ["not-base64!", "bm90IGpzb24", "WzEsMl0", "WyJ5ZXN0ZXJkYXkiLCJIRC0xIl0"],
)
async def test_queue_rejects_invalid_cursor(database_url: str, cursor: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions() as session:
            with pytest.raises(InvalidCursor):
                await repository.list_tickets(session, cursor=cursor)


async def test_queue_rejects_invalid_limit(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions() as session:
            with pytest.raises(ValueError, match="invalid limit"):
                await repository.list_tickets(session, limit=0)


def test_cursor_round_trips() -> None:
    deadline = T0 + timedelta(minutes=7)

    assert repository.decode_cursor(
        repository.encode_cursor(deadline, "HD-Q00001")
    ) == (deadline, "HD-Q00001")
    assert repository.decode_cursor(repository.encode_cursor(None, "HD-Q00001")) == (
        None,
        "HD-Q00001",
    )


async def test_external_ref_claimed_once(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            first = await repository.claim_external_ref(session, "ZD-42", "HD-E00001")
        async with sessions.begin() as session:
            again = await repository.claim_external_ref(session, "ZD-42", "HD-E00001")
        async with sessions.begin() as session:
            other = await repository.claim_external_ref(session, "ZD-42", "HD-E00002")

    assert first is None
    assert again is None
    assert other == "HD-E00001"


async def test_external_ref_race_has_one_winner(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):

        async def claim(ticket_id: str) -> str | None:
            async with sessions.begin() as session:
                return await repository.claim_external_ref(
                    session, "ZD-RACE", ticket_id
                )

        results = await asyncio.gather(*(claim(f"HD-R0000{n}") for n in range(1, 7)))

    winners = [r for r in results if r is None]
    holders = {r for r in results if r is not None}
    assert len(winners) == 1
    assert len(holders) == 1


async def test_closing_ticket_releases_external_ref(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            await repository.claim_external_ref(session, "ZD-7", "HD-C00001")
            await repository.project_ticket(
                session, snapshot("HD-C00001", external_ref="ZD-7"), events(1, 1)
            )
        async with sessions.begin() as session:
            while_open = await repository.claim_external_ref(
                session, "ZD-7", "HD-C00002"
            )
        async with sessions.begin() as session:
            outcome = await repository.project_ticket(
                session,
                snapshot(
                    "HD-C00001", last_seq=2, stage=Stage.CLOSED, external_ref="ZD-7"
                ),
                events(2, 2),
            )
        async with sessions.begin() as session:
            after_close = await repository.claim_external_ref(
                session, "ZD-7", "HD-C00002"
            )

    assert while_open == "HD-C00001"
    assert outcome.external_ref_released
    assert after_close is None


async def test_release_leaves_another_tickets_ref(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            await repository.claim_external_ref(session, "ZD-8", "HD-C00003")
            released = await repository.release_external_ref(
                session, "ZD-8", "HD-C00004"
            )
            holder = await repository.claim_external_ref(session, "ZD-8", "HD-C00005")

    assert not released
    assert holder == "HD-C00003"


async def test_specialist_upsert_get_and_list(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            await repository.upsert_specialist(session, specialist("zoe.lang"))
            await repository.upsert_specialist(session, specialist("adam.ross"))
            await repository.upsert_specialist(
                session, specialist("zoe.lang", on_shift=False, max_open_tickets=2)
            )
        async with sessions() as session:
            listed = await repository.list_specialists(session)
            zoe = await repository.get_specialist(session, "zoe.lang")
            nobody = await repository.get_specialist(session, "no.one")

    assert [s.id for s in listed] == ["adam.ross", "zoe.lang"]
    assert zoe == specialist("zoe.lang", on_shift=False, max_open_tickets=2)
    assert nobody is None


async def test_seeding_keeps_changes_made_later(database_url: str) -> None:
    roster = [specialist("zoe.lang"), specialist("adam.ross")]
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            first = await repository.insert_missing_specialists(session, roster)
            await repository.upsert_specialist(
                session, specialist("zoe.lang", on_shift=False)
            )
        async with sessions.begin() as session:
            second = await repository.insert_missing_specialists(
                session, [*roster, specialist("new.hire")]
            )
        async with sessions() as session:
            zoe = await repository.get_specialist(session, "zoe.lang")

    assert first == ["zoe.lang", "adam.ross"]
    assert second == ["new.hire"]
    assert zoe is not None
    assert not zoe.on_shift


async def test_open_ticket_counts_skip_resolved_and_closed(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions.begin() as session:
            for ticket_id, stage, assignee in [
                ("HD-L00001", Stage.ASSIGNED, "zoe.lang"),
                ("HD-L00002", Stage.CORRECTION, "zoe.lang"),
                ("HD-L00003", Stage.RESOLVED, "zoe.lang"),
                ("HD-L00004", Stage.CLOSED, "adam.ross"),
                ("HD-L00005", Stage.DIAGNOSTICS, "adam.ross"),
                ("HD-L00006", Stage.CLASSIFIED, None),
            ]:
                await repository.project_ticket(
                    session, snapshot(ticket_id, stage=stage, assignee=assignee), []
                )
        async with sessions() as session:
            counts = await repository.open_ticket_counts(session)
            without_one = await repository.open_ticket_counts(
                session, excluding_ticket="HD-L00001"
            )

    assert counts == {"zoe.lang": 2, "adam.ross": 1}
    assert without_one == {"zoe.lang": 1, "adam.ross": 1}


async def test_ping(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        async with sessions() as session:
            await repository.ping(session)
