"""Structured logging: formats, redaction, Temporal context and replay."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
import structlog
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from helpdesk.logging import (
    CORE_LOGGER,
    MAX_EXCEPTION_CHARS,
    REDACTED,
    configure_logging,
    ticket_id_from_workflow_id,
)
from helpdesk.settings import Settings


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_event_and_fields() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", stream=stream)

    structlog.get_logger("helpdesk.test").info("ticket.sla.breached", priority="P1")
    [line] = json_lines(stream)

    assert line["event"] == "ticket.sla.breached"
    assert line["priority"] == "P1"
    assert line["level"] == "info"
    assert line["logger"] == "helpdesk.test"
    assert str(line["timestamp"]).endswith("Z")


def test_secrets_are_redacted_at_any_depth() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", stream=stream)

    structlog.get_logger().info(
        "webhook.configured",
        webhook_secret="hunter2",
        headers={"Authorization": "Bearer abc", "X-Helpdesk-Signature": "sha256=ff"},
        attempts=[{"api_token": "t0k"}],
        database="postgresql+asyncpg://helpdesk:pa55@db.internal/helpdesk",
        password="pa55",
    )
    [line] = json_lines(stream)
    raw = stream.getvalue()

    assert line["webhook_secret"] == REDACTED
    assert line["password"] == REDACTED
    assert line["headers"] == {
        "Authorization": REDACTED,
        "X-Helpdesk-Signature": REDACTED,
    }
    assert line["attempts"] == [{"api_token": REDACTED}]
    assert (
        line["database"]
        == f"postgresql+asyncpg://helpdesk:{REDACTED}@db.internal/helpdesk"
    )
    for secret in ("hunter2", "Bearer abc", "sha256=ff", "t0k", "pa55"):
        assert secret not in raw


def test_stdlib_loggers_are_structured_and_redacted() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", stream=stream)

    logging.getLogger("uvicorn.error").warning(
        "Started server process %s", 42, extra={"token": "abc"}
    )
    [line] = json_lines(stream)

    assert line["event"] == "Started server process 42"
    assert line["logger"] == "uvicorn.error"
    assert line["level"] == "warning"
    assert line["token"] == REDACTED


def test_level_filters_debug() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", level="WARNING", stream=stream)

    structlog.get_logger().info("ticket.projected")
    logging.getLogger("alembic").info("Running upgrade")
    structlog.get_logger().warning("ticket.notification.failed")

    assert [line["event"] for line in json_lines(stream)] == [
        "ticket.notification.failed"
    ]


def test_auto_format_is_json_off_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="auto", stream=stream)

    structlog.get_logger().info("worker.started")

    assert json_lines(stream)[0]["event"] == "worker.started"


def test_auto_format_is_console_on_a_terminal() -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        configure_logging(Settings(), log_format="auto", stream=terminal)
        structlog.get_logger().info("worker.started", task_queue="tickets")
        terminal.flush()
        output = os.read(leader, 4096).decode()
    os.close(leader)

    assert "worker.started" in output
    assert "task_queue" in output
    assert not output.lstrip().startswith("{")


def test_console_format_when_forced() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="console", stream=stream)

    structlog.get_logger().info("worker.started", task_queue="tickets")

    assert "worker.started" in stream.getvalue()
    assert "task_queue=tickets" in stream.getvalue()


def test_invalid_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="invalid log format 'xml'"):
        configure_logging(Settings(), log_format="xml", stream=io.StringIO())


def test_invalid_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="invalid log level 'LOUD'"):
        configure_logging(Settings(), level="LOUD", stream=io.StringIO())


def test_ticket_id_from_workflow_id() -> None:
    assert ticket_id_from_workflow_id("ticket-HD-4F7K2Q") == "HD-4F7K2Q"
    assert ticket_id_from_workflow_id("sla-report") is None


async def test_activity_logs_carry_ticket_and_activity() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", stream=stream)

    @activity.defn(name="send_notification")
    async def send() -> None:
        structlog.get_logger().info("ticket.notification.sent")
        activity.logger.info("ticket.notification.stdlib")

    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id="ticket-HD-4F7K2Q", activity_type="send_notification"
    )
    await env.run(send)
    lines = json_lines(stream)

    assert [line["event"] for line in lines] == [
        "ticket.notification.sent",
        "ticket.notification.stdlib",
    ]
    for line in lines:
        assert line["ticket_id"] == "HD-4F7K2Q"
        assert line["workflow_id"] == "ticket-HD-4F7K2Q"
        assert line["activity"] == "send_notification"
        assert "temporal_activity" not in line


@workflow.defn(sandboxed=False)
class LoggingProbe:
    @workflow.run
    async def run(self) -> None:
        structlog.get_logger().info("ticket.probe.started")
        workflow.logger.info("ticket.probe.stdlib")
        await workflow.sleep(timedelta(minutes=5))
        structlog.get_logger().info("ticket.probe.finished")


async def test_workflow_logs_skip_replay(
    time_env: WorkflowEnvironment, unique_task_queue: str
) -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", stream=stream)

    async with Worker(
        time_env.client, task_queue=unique_task_queue, workflows=[LoggingProbe]
    ):
        handle = await time_env.client.start_workflow(
            LoggingProbe.run, id="ticket-HD-L0GPRB", task_queue=unique_task_queue
        )
        await handle.result()
    live = [
        line for line in json_lines(stream) if str(line["event"]).startswith("ticket.")
    ]
    history = await handle.fetch_history()

    stream.truncate(0)
    stream.seek(0)
    await Replayer(
        workflows=[LoggingProbe], data_converter=pydantic_data_converter
    ).replay_workflow(history)
    replayed = [
        line for line in json_lines(stream) if str(line["event"]).startswith("ticket.")
    ]

    assert [line["event"] for line in live] == [
        "ticket.probe.started",
        "ticket.probe.stdlib",
        "ticket.probe.finished",
    ]
    for line in live:
        assert line["ticket_id"] == "HD-L0GPRB"
        assert line["workflow_id"] == "ticket-HD-L0GPRB"
    assert replayed == []


# Exceptions


CONTACT = "ana.kovac@example.com"


def fail_with_contact_in_a_local() -> None:
    contact = CONTACT
    raise RuntimeError(f"notification failed for specialist {len(contact)}")


def test_json_exception_has_no_frame_locals() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", stream=stream)

    try:
        fail_with_contact_in_a_local()
    except RuntimeError:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed", exc_info=True
        )
    [line] = json_lines(stream)
    [stack] = line["exception"]

    assert CONTACT not in stream.getvalue()
    assert stack["exc_type"] == "RuntimeError"
    assert stack["exc_value"] == "notification failed for specialist 21"
    assert stack["frames"][-1]["name"] == "fail_with_contact_in_a_local"
    assert all("locals" not in frame for frame in stack["frames"])


def test_structlog_exception_has_no_frame_locals() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", stream=stream)

    try:
        fail_with_contact_in_a_local()
    except RuntimeError:
        structlog.get_logger().exception("ticket.notification.failed")
    [line] = json_lines(stream)

    assert CONTACT not in stream.getvalue()
    assert line["exception"][0]["exc_type"] == "RuntimeError"


def test_console_exception_has_no_frame_locals() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="console", stream=stream)

    try:
        fail_with_contact_in_a_local()
    except RuntimeError:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed", exc_info=True
        )
    output = stream.getvalue()

    assert CONTACT not in output
    assert "RuntimeError" in output
    assert "notification failed for specialist 21" in output
    assert "fail_with_contact_in_a_local" in output


def raise_deep(depth: int, message: str) -> None:
    if depth == 0:
        raise ValueError(message)
    raise_deep(depth - 1, message)


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_rendered_exception_size_is_capped(log_format: str) -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format=log_format, stream=stream)

    try:
        raise_deep(200, "x" * 100_000)
    except ValueError:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed", exc_info=True
        )
    output = stream.getvalue()

    assert "Completing activity as failed" in output
    assert "ValueError" in output
    assert len(output) <= MAX_EXCEPTION_CHARS + 1_000


def raise_chain(length: int) -> None:
    try:
        if length > 1:
            raise_chain(length - 1)
        raise KeyError("root")
    except KeyError as exc:
        raise KeyError(f"level {length} " + "y" * 5_000) from exc


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_long_exception_chain_is_capped(log_format: str) -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format=log_format, stream=stream)

    try:
        raise_chain(30)
    except KeyError:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed", exc_info=True
        )
    output = stream.getvalue()

    assert "KeyError" in output
    assert "characters cut" in output
    assert len(output) <= MAX_EXCEPTION_CHARS + 1_000


@activity.defn(name="send_notification")
async def failing_notification(contact: str) -> None:
    specialist_contact = contact
    raise RuntimeError(f"webhook returned 500 ({len(specialist_contact)} chars)")


@workflow.defn(sandboxed=False)
class FailingActivityProbe:
    @workflow.run
    async def run(self, contact: str) -> None:
        try:
            await workflow.execute_activity(
                failing_notification,
                contact,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError:
            workflow.logger.warning("ticket.notification.failed")
            workflow.logger.error("ticket.probe.error")


async def test_failed_activity_line_has_no_locals(
    time_env: WorkflowEnvironment, unique_task_queue: str
) -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", stream=stream)

    async with Worker(
        time_env.client,
        task_queue=unique_task_queue,
        workflows=[FailingActivityProbe],
        activities=[failing_notification],
    ):
        await time_env.client.execute_workflow(
            FailingActivityProbe.run,
            CONTACT,
            id="ticket-HD-FA1LED",
            task_queue=unique_task_queue,
        )
    lines = json_lines(stream)
    [failed] = [
        line for line in lines if line["event"] == "Completing activity as failed"
    ]
    by_event = {str(line["event"]): line for line in lines}

    assert CONTACT not in stream.getvalue()
    assert failed["level"] == "warning"
    assert failed["ticket_id"] == "HD-FA1LED"
    assert failed["exception"][0]["exc_type"] == "RuntimeError"
    assert len(json.dumps(failed)) <= MAX_EXCEPTION_CHARS + 1_000
    assert by_event["ticket.notification.failed"]["level"] == "warning"
    assert by_event["ticket.notification.failed"]["ticket_id"] == "HD-FA1LED"
    assert by_event["ticket.probe.error"]["level"] == "error"


# Personal data and terminal escapes


def test_personal_data_is_redacted() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", stream=stream)

    structlog.get_logger().info(
        "ticket.registered",
        ticket_id="HD-4F7K2Q",
        contact=CONTACT,
        reporter={"kind": "player", "contact": "+385 91 555 0101"},
        specialists=[{"id": "ana.k", "email": CONTACT, "phone_number": "555"}],
    )
    logging.getLogger("helpdesk.test").info("sent", extra={"reporter_email": CONTACT})
    first, second = json_lines(stream)

    assert first["ticket_id"] == "HD-4F7K2Q"
    assert first["contact"] == REDACTED
    assert first["reporter"] == {"kind": "player", "contact": REDACTED}
    assert first["specialists"] == [
        {"id": "ana.k", "email": REDACTED, "phone_number": REDACTED}
    ]
    assert second["reporter_email"] == REDACTED
    assert CONTACT not in stream.getvalue()


def test_json_strips_ansi_escapes_and_color_message() -> None:
    stream = io.StringIO()
    configure_logging(Settings(), log_format="json", stream=stream)

    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]",
        42,
        extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
    )
    logging.getLogger("temporalio.core").warning(
        "\x1b[2m2026-12-04T16:10:20Z\x1b[0m \x1b[33mWARN\x1b[0m Task not found"
    )
    uvicorn, core = json_lines(stream)

    assert "\x1b" not in stream.getvalue()
    assert "color_message" not in uvicorn
    assert uvicorn["event"] == "Started server process [42]"
    assert core["event"] == "2026-12-04T16:10:20Z WARN Task not found"


# Runs in its own process, because the default Temporal runtime of this
# one was created before logging was configured.
CORE_LOG_PROBE = """
import asyncio
import logging
import sys
import threading

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from helpdesk.logging import CORE_LOGGER, configure_logging


@workflow.defn(sandboxed=False)
class Noop:
    @workflow.run
    async def run(self) -> None:
        return None


class SeenWorkerStart(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "Initializing worker" in record.getMessage():
            self.seen.set()


async def main(target: str, task_queue: str) -> None:
    configure_logging(log_format="json", level="DEBUG")
    seen = SeenWorkerStart()
    logging.getLogger(CORE_LOGGER).addHandler(seen)
    client = await Client.connect(target)
    async with Worker(client, task_queue=task_queue, workflows=[Noop]):
        await client.execute_workflow(Noop.run, id=task_queue, task_queue=task_queue)
    # sdk-core hands its lines over in batches, a few milliseconds late, so
    # wait for the line instead of racing the end of the process.
    await asyncio.to_thread(seen.seen.wait, 10)


asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_core_log_lines_are_json(
    time_env: WorkflowEnvironment, unique_task_queue: str
) -> None:
    target = time_env.client.service_client.config.target_host
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CORE_LOG_PROBE,
        target,
        unique_task_queue,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    text = stderr.decode()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    core = [line for line in lines if line.get("logger") == CORE_LOGGER]

    assert process.returncode == 0, text
    assert "\x1b" not in text
    assert "Initializing worker" in [line["event"] for line in core]
    assert all(line["core_target"].startswith("temporalio_sdk_core") for line in core)
