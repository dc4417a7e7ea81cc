"""The send_notification activity: recipients, idempotency and attempts."""

from __future__ import annotations

import pytest
from db_factories import migrated, specialist
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from webhook_receiver import Reply, webhook_receiver

from activities.notifications import NotificationActivities
from helpdesk.contracts import NotificationRequest
from helpdesk.db import repository
from helpdesk.domain import Priority, Role
from helpdesk.notify import LogChannel, WebhookChannel

SECRET = "notification-test-secret"


def notification(
    recipient: str = "grace.okafor", notification_id: str = "HD-N00001:assigned:1"
) -> NotificationRequest:
    return NotificationRequest(
        notification_id=notification_id,
        ticket_id="HD-N00001",
        recipient=recipient,
        kind="assigned",
        subject="HD-N00001 assigned to you",
        body="Deposits stuck in pending",
        priority=Priority.P2,
    )


async def add_people(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        for person in (
            specialist("grace.okafor"),
            specialist("maria.santos", roles=[Role.SUPPORT_MANAGER]),
            specialist("noah.fischer", roles=[Role.SUPPORT_MANAGER]),
            specialist("olga.ivanova", roles=[Role.SUPPORT_MANAGER], on_shift=False),
            specialist("chen.wei", roles=[Role.SUPPORT_ENGINEER], on_shift=False),
        ):
            await repository.upsert_specialist(session, person)


async def stored(
    sessions: async_sessionmaker[AsyncSession], ticket_id: str = "HD-N00001"
) -> list[repository.NotificationRecord]:
    async with sessions() as session:
        return await repository.list_notifications(session, ticket_id)


async def test_log_channel_delivers_and_records(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_people(sessions)
        activities = NotificationActivities(sessions, LogChannel())

        result = await activities.send_notification(notification())
        [record] = await stored(sessions)

    assert result.delivered
    assert result.channel == "log"
    assert result.attempts == 1
    assert result.recipients == ["grace.okafor"]
    assert record.status == "sent"
    assert record.sent_at is not None
    assert [a.outcome for a in record.attempt_log] == ["sent"]


async def test_sent_notification_is_not_sent_again(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_people(sessions)
        with webhook_receiver(Reply(200)) as receiver:
            activities = NotificationActivities(
                sessions, WebhookChannel(receiver.url, SECRET)
            )
            first = await activities.send_notification(notification())
            repeat = await activities.send_notification(notification())
        [record] = await stored(sessions)

    assert len(receiver.requests) == 1
    assert repeat == first
    assert record.attempts == 1


async def test_role_recipient_reaches_everyone_on_shift(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_people(sessions)
        activities = NotificationActivities(sessions, LogChannel())

        result = await activities.send_notification(
            notification("role:support_manager")
        )

    assert result.delivered
    assert result.recipients == ["maria.santos", "noah.fischer"]


async def test_role_without_anyone_on_shift_is_undeliverable(
    database_url: str,
) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_people(sessions)
        with webhook_receiver(Reply(200)) as receiver:
            activities = NotificationActivities(
                sessions, WebhookChannel(receiver.url, SECRET)
            )
            result = await activities.send_notification(
                notification("role:support_engineer")
            )
        [record] = await stored(sessions)

    assert not result.delivered
    assert result.error == "no recipient on shift for role:support_engineer"
    assert receiver.requests == []
    assert record.status == "undeliverable"
    assert record.attempt_log == []


async def test_unknown_recipient_is_not_retried(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        activities = NotificationActivities(sessions, LogChannel())

        with pytest.raises(ApplicationError) as unknown_person:
            await activities.send_notification(notification("no.such.person"))
        with pytest.raises(ApplicationError) as unknown_role:
            await activities.send_notification(
                notification("role:janitor", notification_id="HD-N00001:x:2")
            )

    assert unknown_person.value.type == "NotFound"
    assert unknown_person.value.non_retryable
    assert unknown_role.value.type == "InvalidRecipient"
    assert unknown_role.value.non_retryable


async def test_server_error_then_success_records_both_attempts(
    database_url: str,
) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_people(sessions)
        with webhook_receiver(Reply(503), Reply(200)) as receiver:
            activities = NotificationActivities(
                sessions, WebhookChannel(receiver.url, SECRET)
            )
            with pytest.raises(ApplicationError) as caught:
                await activities.send_notification(notification())
            [after_failure] = await stored(sessions)
            result = await activities.send_notification(notification())
        [record] = await stored(sessions)

    assert caught.value.type == "NotificationDeliveryFailed"
    assert not caught.value.non_retryable
    assert after_failure.status == "failed"
    assert result.delivered
    assert result.attempts == 2
    assert record.status == "sent"
    assert [(a.attempt, a.outcome, a.http_status) for a in record.attempt_log] == [
        (1, "failed", 503),
        (2, "sent", 200),
    ]
    ids = {r.headers["X-Helpdesk-Notification-Id"] for r in receiver.requests}
    assert ids == {"HD-N00001:assigned:1"}


async def test_client_error_rejects_for_good(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_people(sessions)
        with webhook_receiver(Reply(400), Reply(200)) as receiver:
            activities = NotificationActivities(
                sessions, WebhookChannel(receiver.url, SECRET)
            )
            with pytest.raises(ApplicationError) as first:
                await activities.send_notification(notification())
            with pytest.raises(ApplicationError) as again:
                await activities.send_notification(notification())
        [record] = await stored(sessions)

    assert first.value.type == "NotificationRejected"
    assert first.value.non_retryable
    assert again.value.type == "NotificationRejected"
    assert len(receiver.requests) == 1
    assert record.status == "rejected"
    assert [(a.outcome, a.http_status) for a in record.attempt_log] == [
        ("rejected", 400)
    ]


async def test_notifications_listed_per_ticket(database_url: str) -> None:
    async with migrated(database_url) as (_, sessions):
        await add_people(sessions)
        activities = NotificationActivities(sessions, LogChannel())
        await activities.send_notification(notification(notification_id="n-1"))
        await activities.send_notification(
            notification("role:support_manager", notification_id="n-2")
        )

        records = await stored(sessions)
        other = await stored(sessions, "HD-OTHER1")

    assert [r.id for r in records] == ["n-1", "n-2"]
    assert other == []
