"""Notification channels: where a notification goes once its recipients are known.

`LogChannel` (the default) writes one structured log line per notification.
`WebhookChannel` POSTs the notification as JSON to a URL, signed with
HMAC-SHA256 so the receiver can check it came from this service.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import structlog

from helpdesk.settings import Settings

SIGNATURE_HEADER = "X-Helpdesk-Signature"
NOTIFICATION_ID_HEADER = "X-Helpdesk-Notification-Id"

# 4xx statuses that mean "try again later" rather than "this request is wrong".
RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})

log = structlog.get_logger("helpdesk.notify")


@dataclass(frozen=True)
class Recipient:
    id: str
    name: str
    contact: str | None


@dataclass(frozen=True)
class OutgoingNotification:
    """A notification with its recipients resolved, ready for a channel."""

    notification_id: str
    ticket_id: str
    kind: str
    subject: str
    body: str
    priority: str
    recipients: list[Recipient]
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "notification_id": self.notification_id,
            "ticket_id": self.ticket_id,
            "kind": self.kind,
            "subject": self.subject,
            "body": self.body,
            "priority": self.priority,
            "recipients": [
                {"id": r.id, "name": r.name, "contact": r.contact}
                for r in self.recipients
            ],
            "details": self.details,
        }


@dataclass(frozen=True)
class Delivery:
    """A channel's receipt for a delivered notification."""

    http_status: int | None = None


class DeliveryError(Exception):
    """A channel failed to deliver.

    `retryable` is False when sending the same request again cannot succeed
    (the receiver rejected it with a 4xx status).
    """

    def __init__(
        self, message: str, *, retryable: bool, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.http_status = http_status


class NotificationChannel(Protocol):
    name: str

    async def send(self, notification: OutgoingNotification) -> Delivery:
        """Deliver the notification or raise DeliveryError."""
        ...


class LogChannel:
    """Delivers a notification by logging it: the default without a webhook."""

    name = "log"

    async def send(self, notification: OutgoingNotification) -> Delivery:
        log.info(
            "ticket.notification.delivered",
            channel=self.name,
            ticket_id=notification.ticket_id,
            notification_id=notification.notification_id,
            kind=notification.kind,
            priority=notification.priority,
            recipients=[r.id for r in notification.recipients],
            subject=notification.subject,
        )
        return Delivery()


def sign(body: bytes, secret: str) -> str:
    """Return the signature header value for a raw request body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """Check a signature header against the raw body (for receivers and tests)."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


class WebhookChannel:
    """POSTs each notification as JSON to one URL.

    Headers: `X-Helpdesk-Signature: sha256=<hex HMAC-SHA256 of the raw body>`
    and `X-Helpdesk-Notification-Id`, which stays the same on every retry so
    the receiver can drop repeats. Timeouts, connection errors and the
    statuses 5xx, 408, 425 and 429 raise a retryable DeliveryError. Any
    other status outside 2xx raises a DeliveryError that is not retryable.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout_seconds: float = 5.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"invalid webhook URL {url!r}: use an http(s) URL")
        if not secret:
            raise ValueError("the webhook channel needs a secret to sign requests")
        self.url = url
        self._secret = secret
        self._timeout = timeout_seconds

    async def send(self, notification: OutgoingNotification) -> Delivery:
        body = json.dumps(notification.to_json(), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self._secret),
            NOTIFICATION_ID_HEADER: notification.notification_id,
        }
        try:
            # A new client per notification, because sends are rare and the
            # channel then keeps no connection open for a shutdown to close.
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                f"webhook timed out after {self._timeout:g}s", retryable=True
            ) from exc
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"webhook request failed: {type(exc).__name__}: {exc}", retryable=True
            ) from exc

        status = response.status_code
        if 200 <= status < 300:
            return Delivery(http_status=status)
        retryable = status >= 500 or status in RETRYABLE_CLIENT_STATUSES
        raise DeliveryError(
            f"webhook returned HTTP {status}: {response.text[:200]}",
            retryable=retryable,
            http_status=status,
        )


def build_channel(settings: Settings) -> NotificationChannel:
    """Return the channel chosen by `settings.notification_channel`."""
    choice = settings.notification_channel.strip().lower()
    if choice == "log":
        return LogChannel()
    if choice == "webhook":
        if not settings.webhook_url:
            raise ValueError(
                "HELPDESK_NOTIFICATION_CHANNEL=webhook needs HELPDESK_WEBHOOK_URL"
            )
        if not settings.webhook_secret:
            raise ValueError(
                "HELPDESK_NOTIFICATION_CHANNEL=webhook needs HELPDESK_WEBHOOK_SECRET "
                "to sign requests"
            )
        return WebhookChannel(
            settings.webhook_url,
            settings.webhook_secret,
            timeout_seconds=settings.webhook_timeout_seconds,
        )
    raise ValueError(
        f"invalid notification channel {settings.notification_channel!r}: "
        "use log or webhook"
    )
