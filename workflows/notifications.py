"""Notifications a ticket workflow sends, each in the background.

Every outcome, sent or failed, is appended to the ticket as an event.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.projection import SYSTEM_ACTOR, TicketProjection

with workflow.unsafe.imports_passed_through():
    from helpdesk.contracts import (
        SEND_NOTIFICATION,
        NotificationRequest,
        NotificationResult,
    )
    from helpdesk.domain import EventKind, TicketEvent
    from workflows.texts import notification_body

NOTIFY_TIMEOUT = timedelta(seconds=30)

# Pages keep trying for 10 attempts, with about 8 minutes of backoff between
# them (2 s doubling to a 2-minute cap), before the notification is recorded
# as failed. That covers a short outage of the paging receiver. A failed
# notification never fails the ticket.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=10,
    non_retryable_error_types=["NotificationRejected", "NotFound", "InvalidRecipient"],
)


class TicketNotifications(TicketProjection):
    """Notifications to the assignee, a role queue or the managers."""

    def _notify_assignee(self, cause: TicketEvent, kind: str) -> None:
        state = self._state
        if state.assignee is not None:
            self._notify(cause, state.assignee.id, kind, "assignee")
        elif state.queue_role is not None:
            recipient = f"role:{state.queue_role.value}"
            self._notify(cause, recipient, kind, recipient)

    def _notify(
        self, cause: TicketEvent, recipient: str, kind: str, audience: str
    ) -> None:
        """Send a notification in the background and record its outcome.

        The id is built from the ticket, the event and the recipient, so a
        retried activity or a replayed workflow never sends it twice.
        """
        state = self._state
        request = NotificationRequest(
            notification_id=f"{self._ticket_id}:{cause.seq}:{recipient}",
            ticket_id=self._ticket_id,
            recipient=recipient,
            kind=kind,
            subject=f"[{state.priority.value}] {self._ticket_id}: {kind}",
            body=notification_body(
                self._ticket_id, self._input.intake.title, state, cause, kind
            ),
            priority=state.priority,
            details={"event_seq": cause.seq, **cause.details},
        )
        task = asyncio.create_task(self._send(request, f"notify {audience}: {kind}"))
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    async def _send(self, request: NotificationRequest, summary: str) -> None:
        details: dict[str, Any] = {
            "notification_id": request.notification_id,
            "recipient": request.recipient,
            "kind": request.kind,
            "event_seq": request.details.get("event_seq"),
        }
        try:
            result = await workflow.execute_activity(
                SEND_NOTIFICATION,
                request,
                result_type=NotificationResult,
                start_to_close_timeout=NOTIFY_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
                summary=summary,
            )
        except ActivityError as err:
            cause = err.cause or err
            details["error"] = str(cause)
            kind = EventKind.NOTIFICATION_FAILED
            self._warn(
                "ticket.notification.failed",
                recipient=request.recipient,
                error=str(cause),
            )
        else:
            details.update(
                channel=result.channel,
                attempts=result.attempts,
                recipients=list(result.recipients),
            )
            if result.delivered:
                kind = EventKind.NOTIFICATION_SENT
            else:
                kind = EventKind.NOTIFICATION_FAILED
                details["error"] = result.error
        async with self._lock:
            self._append(kind, SYSTEM_ACTOR, details)
            await self._publish()
