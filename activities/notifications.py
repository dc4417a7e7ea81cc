"""The `send_notification` activity: deliver a notification once per id.

The workflow decides who gets which notification and when. This activity
resolves the recipients, passes the message to the configured channel and
records every attempt.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from helpdesk.contracts import (
    SEND_NOTIFICATION,
    NotificationRequest,
    NotificationResult,
)
from helpdesk.db import repository
from helpdesk.db.repository import notifications as status
from helpdesk.domain import Role
from helpdesk.notify import (
    DeliveryError,
    NotificationChannel,
    OutgoingNotification,
    Recipient,
)

log = structlog.get_logger("helpdesk.activities.notifications")

ROLE_PREFIX = "role:"


class NotificationActivities:
    """Holds the database and channel that `send_notification` needs."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channel: NotificationChannel,
    ) -> None:
        self._sessions = sessions
        self._channel = channel

    @activity.defn(name=SEND_NOTIFICATION)
    async def send_notification(
        self, request: NotificationRequest
    ) -> NotificationResult:
        """Send a notification unless its `notification_id` is recorded as sent.

        The recipient is a specialist id (sent whatever the shift) or
        `role:<role>` (everyone on shift with that role). If the
        notifications row already says `sent`, the stored result comes back
        and nothing is sent again. With nobody to receive it the result has
        `delivered=False` and an error, and no attempt is made.

        Raises ApplicationError:
          - type "NotificationDeliveryFailed", retryable: timeout, connection
            error or 5xx. Temporal's retry policy does the backoff.
          - type "NotificationRejected", non-retryable: the receiver
            rejected the request (4xx), now or on an earlier attempt.
          - type "NotFound" / "InvalidRecipient", non-retryable: unknown
            specialist id or role.

        The stored status is checked before sending, so a retry after a
        recorded success sends nothing. If the worker dies between a
        delivery and its record, the retry delivers again with the same
        `X-Helpdesk-Notification-Id`, which receivers use to drop repeats.

        Recommended call options: start_to_close_timeout=webhook timeout +
        10s (15s by default), retry with initial_interval=2s,
        backoff_coefficient=2, maximum_interval=1m, maximum_attempts=6,
        non_retryable_error_types=["NotificationRejected", "NotFound",
        "InvalidRecipient"].
        """
        channel = self._channel.name
        async with self._sessions.begin() as session:
            record = await repository.register_notification(
                session, request, channel=channel
            )
            if record.status == status.SENT:
                log.info(
                    "ticket.notification.already_sent",
                    ticket_id=request.ticket_id,
                    notification_id=request.notification_id,
                )
                return NotificationResult(
                    notification_id=record.id,
                    delivered=True,
                    channel=record.channel,
                    attempts=record.attempts,
                    recipients=record.recipients,
                )
            if record.status == status.REJECTED:
                raise ApplicationError(
                    f"notification {record.id} was rejected earlier: "
                    f"{record.last_error}",
                    type="NotificationRejected",
                    non_retryable=True,
                )
            recipients = await self._resolve(session, request.recipient)
            if not recipients:
                reason = f"no recipient on shift for {request.recipient}"
                await repository.mark_undeliverable(
                    session, request.notification_id, reason=reason
                )
                log.warning(
                    "ticket.notification.undeliverable",
                    ticket_id=request.ticket_id,
                    notification_id=request.notification_id,
                    recipient=request.recipient,
                )
                return NotificationResult(
                    notification_id=request.notification_id,
                    delivered=False,
                    channel=channel,
                    attempts=record.attempts,
                    error=reason,
                )

        outgoing = OutgoingNotification(
            notification_id=request.notification_id,
            ticket_id=request.ticket_id,
            kind=request.kind,
            subject=request.subject,
            body=request.body,
            priority=request.priority.value,
            recipients=recipients,
            details=request.details,
        )
        return await self._deliver(outgoing)

    async def _deliver(self, outgoing: OutgoingNotification) -> NotificationResult:
        channel = self._channel.name
        recipient_ids = [r.id for r in outgoing.recipients]
        started_at = datetime.now(UTC)
        try:
            delivery = await self._channel.send(outgoing)
        except DeliveryError as exc:
            async with self._sessions.begin() as session:
                attempt = await repository.record_attempt(
                    session,
                    outgoing.notification_id,
                    channel=channel,
                    outcome=status.OUTCOME_FAILED
                    if exc.retryable
                    else status.OUTCOME_REJECTED,
                    status=status.FAILED if exc.retryable else status.REJECTED,
                    recipients=recipient_ids,
                    started_at=started_at,
                    http_status=exc.http_status,
                    error=str(exc),
                )
            log.warning(
                "ticket.notification.failed",
                ticket_id=outgoing.ticket_id,
                notification_id=outgoing.notification_id,
                channel=channel,
                attempt=attempt,
                retryable=exc.retryable,
                http_status=exc.http_status,
                error=str(exc),
            )
            raise ApplicationError(
                f"notification {outgoing.notification_id} not delivered: {exc}",
                type="NotificationDeliveryFailed"
                if exc.retryable
                else "NotificationRejected",
                non_retryable=not exc.retryable,
            ) from exc

        async with self._sessions.begin() as session:
            attempt = await repository.record_attempt(
                session,
                outgoing.notification_id,
                channel=channel,
                outcome=status.OUTCOME_SENT,
                status=status.SENT,
                recipients=recipient_ids,
                started_at=started_at,
                http_status=delivery.http_status,
            )
        log.info(
            "ticket.notification.sent",
            ticket_id=outgoing.ticket_id,
            notification_id=outgoing.notification_id,
            kind=outgoing.kind,
            channel=channel,
            attempt=attempt,
            recipients=recipient_ids,
        )
        return NotificationResult(
            notification_id=outgoing.notification_id,
            delivered=True,
            channel=channel,
            attempts=attempt,
            recipients=recipient_ids,
        )

    async def _resolve(self, session: AsyncSession, recipient: str) -> list[Recipient]:
        if recipient.startswith(ROLE_PREFIX):
            name = recipient.removeprefix(ROLE_PREFIX)
            try:
                role = Role(name)
            except ValueError:
                raise ApplicationError(
                    f"invalid recipient {recipient!r}: unknown role {name!r}, use one "
                    f"of {', '.join(r.value for r in Role)}",
                    type="InvalidRecipient",
                    non_retryable=True,
                ) from None
            members = await repository.list_specialists_with_role(session, role)
            return [Recipient(s.id, s.name, s.contact) for s in members]

        specialist = await repository.get_specialist(session, recipient)
        if specialist is None:
            raise ApplicationError(
                f"recipient specialist {recipient!r} not found",
                type="NotFound",
                non_retryable=True,
            )
        return [Recipient(specialist.id, specialist.name, specialist.contact)]
