"""The webhook channel against a local stand-in receiver."""

from __future__ import annotations

import json
import socket

import pytest
from webhook_receiver import Reply, webhook_receiver

from helpdesk.notify import (
    NOTIFICATION_ID_HEADER,
    SIGNATURE_HEADER,
    DeliveryError,
    LogChannel,
    OutgoingNotification,
    Recipient,
    WebhookChannel,
    build_channel,
    verify_signature,
)
from helpdesk.settings import Settings

SECRET = "s3cret-for-tests"


def outgoing(notification_id: str = "HD-W00001:assigned:1") -> OutgoingNotification:
    return OutgoingNotification(
        notification_id=notification_id,
        ticket_id="HD-W00001",
        kind="assigned",
        subject="HD-W00001 assigned to you",
        body="Deposits stuck in pending (P1)",
        priority="P1",
        recipients=[Recipient("grace.okafor", "Grace Okafor", "grace@example")],
        details={"escalation_level": 0},
    )


async def test_webhook_posts_signed_json() -> None:
    with webhook_receiver(Reply(200)) as receiver:
        delivery = await WebhookChannel(receiver.url, SECRET).send(outgoing())

    [received] = receiver.requests
    body = json.loads(received.body)
    assert delivery.http_status == 200
    assert received.path == "/hooks/helpdesk"
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers[NOTIFICATION_ID_HEADER] == "HD-W00001:assigned:1"
    assert received.headers[SIGNATURE_HEADER].startswith("sha256=")
    assert verify_signature(received.body, SECRET, received.headers[SIGNATURE_HEADER])
    assert not verify_signature(
        received.body, "other-secret", received.headers[SIGNATURE_HEADER]
    )
    assert body["ticket_id"] == "HD-W00001"
    assert body["recipients"] == [
        {"id": "grace.okafor", "name": "Grace Okafor", "contact": "grace@example"}
    ]


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
async def test_webhook_server_errors_are_retryable(status: int) -> None:
    with webhook_receiver(Reply(status)) as receiver:
        with pytest.raises(DeliveryError) as caught:
            await WebhookChannel(receiver.url, SECRET).send(outgoing())

    assert caught.value.retryable
    assert caught.value.http_status == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_webhook_client_errors_are_not_retryable(status: int) -> None:
    with webhook_receiver(Reply(status)) as receiver:
        with pytest.raises(DeliveryError) as caught:
            await WebhookChannel(receiver.url, SECRET).send(outgoing())

    assert not caught.value.retryable
    assert caught.value.http_status == status


async def test_webhook_timeout_is_retryable() -> None:
    with webhook_receiver(Reply(200, delay_s=1.5)) as receiver:
        channel = WebhookChannel(receiver.url, SECRET, timeout_seconds=0.3)
        with pytest.raises(DeliveryError) as caught:
            await channel.send(outgoing())

    assert caught.value.retryable
    assert "timed out after 0.3s" in str(caught.value)


async def test_webhook_connection_refused_is_retryable() -> None:
    # A bound socket that never listens, so the connection is refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed_port.getsockname()[1]}/hook"
        with pytest.raises(DeliveryError) as caught:
            await WebhookChannel(url, SECRET, timeout_seconds=2).send(outgoing())

    assert caught.value.retryable
    assert "webhook request failed: ConnectError" in str(caught.value)


def test_build_channel_defaults_to_log() -> None:
    assert isinstance(build_channel(Settings()), LogChannel)


def test_build_channel_webhook() -> None:
    channel = build_channel(
        Settings(
            notification_channel="webhook",
            webhook_url="http://127.0.0.1:9/hook",
            webhook_secret=SECRET,
            webhook_timeout_seconds=2.5,
        )
    )

    assert isinstance(channel, WebhookChannel)
    assert channel.url == "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(notification_channel="pager"), "invalid notification channel"),
        (Settings(notification_channel="webhook"), "needs HELPDESK_WEBHOOK_URL"),
        (
            Settings(notification_channel="webhook", webhook_url="http://127.0.0.1/"),
            "needs HELPDESK_WEBHOOK_SECRET",
        ),
        (
            Settings(
                notification_channel="webhook",
                webhook_url="ftp://127.0.0.1/",
                webhook_secret=SECRET,
            ),
            "invalid webhook URL",
        ),
    ],
)
def test_build_channel_rejects_bad_settings(settings: Settings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_channel(settings)
