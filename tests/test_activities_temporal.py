"""The ticket activities run by a real worker on the time-skipping server.

Each test wraps a real activity in a same-named test activity that fails its
first attempt after the real work is done, the way a worker that crashes
after committing would. Temporal then retries, and the database must show
the work once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from db_factories import events, snapshot
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from webhook_receiver import Reply, webhook_receiver

from activities.assignment import AssignmentActivities
from activities.notifications import NotificationActivities
from activities.projection import ProjectionActivities
from helpdesk.contracts import (
    ASSIGN_SPECIALIST,
    CLASSIFY_TICKET,
    PROJECT_TICKET,
    SEND_NOTIFICATION,
    AssignInput,
    AssignResult,
    ClassifyInput,
    NotificationRequest,
    NotificationResult,
    ProjectionInput,
)
from helpdesk.db import create_engine, prepare_database, repository, session_factory
from helpdesk.db.models import TicketEventRow
from helpdesk.domain import (
    Category,
    Channel,
    Classification,
    Priority,
    Reporter,
    ReporterKind,
    TicketIntake,
)
from helpdesk.notify import WebhookChannel
from helpdesk.routing import load_routing
from helpdesk.settings import Settings
from worker.main import build_worker

RETRY_FAST = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=1.0,
    maximum_attempts=5,
    non_retryable_error_types=["NotFound", "NotificationRejected", "InvalidRecipient"],
)


class ProbeInput(BaseModel):
    """Activity calls for the probe workflow, all run on `task_queue`."""

    task_queue: str
    classify: ClassifyInput | None = None
    projection: ProjectionInput | None = None
    assign: list[AssignInput] = []
    notification: NotificationRequest | None = None


class ProbeOutput(BaseModel):
    classification: Classification | None = None
    assigned: list[AssignResult] = []
    notification: NotificationResult | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_non_retryable: bool | None = None


@workflow.defn(sandboxed=False)
class ActivityProbe:
    """Calls ticket activities by name, as TicketWorkflow does."""

    @workflow.run
    async def run(self, probe: ProbeInput) -> ProbeOutput:
        output = ProbeOutput()
        options = {
            "task_queue": probe.task_queue,
            "start_to_close_timeout": timedelta(seconds=10),
            "retry_policy": RETRY_FAST,
        }
        try:
            if probe.classify:
                output.classification = await workflow.execute_activity(
                    CLASSIFY_TICKET,
                    probe.classify,
                    result_type=Classification,
                    **options,  # type: ignore[arg-type]
                )
            if probe.projection:
                await workflow.execute_activity(
                    PROJECT_TICKET,
                    probe.projection,
                    **options,  # type: ignore[arg-type]
                )
            for request in probe.assign:
                output.assigned.append(
                    await workflow.execute_activity(
                        ASSIGN_SPECIALIST,
                        request,
                        result_type=AssignResult,
                        **options,  # type: ignore[arg-type]
                    )
                )
            if probe.notification:
                output.notification = await workflow.execute_activity(
                    SEND_NOTIFICATION,
                    probe.notification,
                    result_type=NotificationResult,
                    **options,  # type: ignore[arg-type]
                )
        except ActivityError as exc:
            if not isinstance(exc.cause, ApplicationError):
                raise
            output.error_type = exc.cause.type
            output.error_message = exc.cause.message
            output.error_non_retryable = exc.cause.non_retryable
        return output


class Database(BaseModel, arbitrary_types_allowed=True):
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@pytest_asyncio.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'hd.db'}")
    engine = create_engine(settings.database_url)
    await prepare_database(settings, engine)
    yield Database(settings=settings, engine=engine, sessions=session_factory(engine))
    await engine.dispose()


async def run_probe(
    env: WorkflowEnvironment,
    activity_worker: Worker,
    probe: ProbeInput,
    task_queue: str,
) -> ProbeOutput:
    probe_queue = f"{task_queue}-probe"
    async with (
        activity_worker,
        Worker(env.client, task_queue=probe_queue, workflows=[ActivityProbe]),
    ):
        return await env.client.execute_workflow(
            ActivityProbe.run,
            probe,
            id=f"ticket-HD-PROBE-{task_queue}",
            task_queue=probe_queue,
            result_type=ProbeOutput,
        )


def intake() -> TicketIntake:
    return TicketIntake(
        title="Withdrawal failed with error 502 from the payment provider",
        description="Player cannot withdraw, wallet shows pending.",
        channel=Channel.EMAIL,
        reporter=Reporter(kind=ReporterKind.PLAYER),
    )


async def test_build_worker_runs_every_activity(
    time_env: WorkflowEnvironment, unique_task_queue: str, database: Database
) -> None:
    worker = build_worker(
        time_env.client,
        database.settings,
        task_queue=unique_task_queue,
        engine=database.engine,
    )
    probe = ProbeInput(
        task_queue=unique_task_queue,
        classify=ClassifyInput(ticket_id="HD-BW0001", intake=intake()),
        projection=ProjectionInput(
            snapshot=snapshot("HD-BW0001", last_seq=2), events=events(1, 2)
        ),
        assign=[
            AssignInput(
                ticket_id="HD-BW0001", category=Category.PAYMENT, priority=Priority.P2
            )
        ],
        notification=NotificationRequest(
            notification_id="HD-BW0001:assigned:1",
            ticket_id="HD-BW0001",
            recipient="role:support_manager",
            kind="assigned",
            subject="HD-BW0001 assigned",
            body="Withdrawal failed",
            priority=Priority.P2,
        ),
    )

    output = await run_probe(time_env, worker, probe, unique_task_queue)
    assert output.error_message is None
    async with database.sessions() as session:
        history = await repository.get_history(session, "HD-BW0001")
        [sent] = await repository.list_notifications(session, "HD-BW0001")

    assert output.classification is not None
    assert [event.seq for event in history] == [1, 2]
    assert output.assigned[0].assignee is not None
    assert output.notification is not None
    assert output.notification.delivered
    assert sent.status == "sent"


def fail_first_attempt_projection(real: ProjectionActivities, calls: list[int]):  # type: ignore[no-untyped-def]
    @activity.defn(name=PROJECT_TICKET)
    async def project_ticket(projection: ProjectionInput) -> None:
        calls.append(activity.info().attempt)
        await real.project_ticket(projection)
        if activity.info().attempt == 1:
            raise ApplicationError("worker lost after the projection committed")

    return project_ticket


async def test_retried_projection_leaves_one_row_per_event(
    time_env: WorkflowEnvironment, unique_task_queue: str, database: Database
) -> None:
    calls: list[int] = []
    real = ProjectionActivities(database.sessions)
    worker = build_worker(
        time_env.client,
        database.settings,
        task_queue=unique_task_queue,
        engine=database.engine,
        activities=[fail_first_attempt_projection(real, calls)],
    )
    probe = ProbeInput(
        task_queue=unique_task_queue,
        projection=ProjectionInput(
            snapshot=snapshot("HD-RP0001", last_seq=4), events=events(1, 4)
        ),
    )

    output = await run_probe(time_env, worker, probe, unique_task_queue)
    async with database.sessions() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(TicketEventRow)
            .where(TicketEventRow.ticket_id == "HD-RP0001")
        )
        ticket = await repository.get_ticket(session, "HD-RP0001")

    assert output.error_type is None
    assert calls == [1, 2]
    assert rows == 4
    assert ticket is not None
    assert ticket.last_seq == 4


async def test_retried_assignment_keeps_first_choice(
    time_env: WorkflowEnvironment, unique_task_queue: str, database: Database
) -> None:
    chosen: list[str | None] = []
    real = AssignmentActivities(database.sessions, load_routing())

    @activity.defn(name=ASSIGN_SPECIALIST)
    async def assign_specialist(request: AssignInput) -> AssignResult:
        result = await real.assign_specialist(request)
        chosen.append(result.assignee.id if result.assignee else None)
        if activity.info().attempt == 1:
            raise ApplicationError("worker lost after the assignment committed")
        return result

    worker = build_worker(
        time_env.client,
        database.settings,
        task_queue=unique_task_queue,
        engine=database.engine,
        activities=[assign_specialist],
    )
    payment = {"category": Category.PAYMENT, "priority": Priority.P1}
    probe = ProbeInput(
        task_queue=unique_task_queue,
        assign=[
            AssignInput(ticket_id="HD-RA0001", **payment),
            AssignInput(ticket_id="HD-RA0002", **payment),
        ],
    )

    output = await run_probe(time_env, worker, probe, unique_task_queue)
    first, second = (result.assignee for result in output.assigned)

    # Two on-shift backend developers in the built-in roster, both idle: the
    # retry of the first request repeats its choice, and the second request
    # gets the other developer because the cursor moved only once.
    assert first is not None
    assert second is not None
    assert chosen == [first.id, first.id, second.id, second.id]
    assert {first.id, second.id} == {"grace.okafor", "hiro.tanaka"}


async def test_notification_retried_after_server_error(
    time_env: WorkflowEnvironment, unique_task_queue: str, database: Database
) -> None:
    with webhook_receiver(Reply(500), Reply(502), Reply(200)) as receiver:
        real = NotificationActivities(
            database.sessions, WebhookChannel(receiver.url, "secret")
        )
        worker = build_worker(
            time_env.client,
            database.settings,
            task_queue=unique_task_queue,
            engine=database.engine,
            activities=[real.send_notification],
        )
        probe = ProbeInput(
            task_queue=unique_task_queue,
            notification=notification_request("HD-NR0001:breach:1"),
        )
        output = await run_probe(time_env, worker, probe, unique_task_queue)
    async with database.sessions() as session:
        [record] = await repository.list_notifications(session, "HD-NR0001")

    assert output.notification is not None
    assert output.notification.delivered
    assert output.notification.attempts == 3
    assert len(receiver.requests) == 3
    assert [a.outcome for a in record.attempt_log] == ["failed", "failed", "sent"]


async def test_notification_not_retried_after_client_error(
    time_env: WorkflowEnvironment, unique_task_queue: str, database: Database
) -> None:
    with webhook_receiver(Reply(404), Reply(200)) as receiver:
        real = NotificationActivities(
            database.sessions, WebhookChannel(receiver.url, "secret")
        )
        worker = build_worker(
            time_env.client,
            database.settings,
            task_queue=unique_task_queue,
            engine=database.engine,
            activities=[real.send_notification],
        )
        probe = ProbeInput(
            task_queue=unique_task_queue,
            notification=notification_request("HD-NR0002:breach:1"),
        )
        output = await run_probe(time_env, worker, probe, unique_task_queue)
    async with database.sessions() as session:
        [record] = await repository.list_notifications(session, "HD-NR0002")

    assert output.error_type == "NotificationRejected"
    assert output.error_non_retryable
    assert len(receiver.requests) == 1
    assert record.status == "rejected"


async def test_notification_retried_after_timeout(
    time_env: WorkflowEnvironment, unique_task_queue: str, database: Database
) -> None:
    with webhook_receiver(Reply(200, delay_s=2.0), Reply(200)) as receiver:
        real = NotificationActivities(
            database.sessions,
            WebhookChannel(receiver.url, "secret", timeout_seconds=0.5),
        )
        worker = build_worker(
            time_env.client,
            database.settings,
            task_queue=unique_task_queue,
            engine=database.engine,
            activities=[real.send_notification],
        )
        probe = ProbeInput(
            task_queue=unique_task_queue,
            notification=notification_request("HD-NR0003:breach:1"),
        )
        output = await run_probe(time_env, worker, probe, unique_task_queue)
    async with database.sessions() as session:
        [record] = await repository.list_notifications(session, "HD-NR0003")

    assert output.notification is not None
    assert output.notification.delivered
    assert [a.outcome for a in record.attempt_log] == ["failed", "sent"]
    assert record.attempt_log[0].error == "webhook timed out after 0.5s"


async def test_notification_sent_before_crash_is_not_sent_again(
    time_env: WorkflowEnvironment, unique_task_queue: str, database: Database
) -> None:
    with webhook_receiver(Reply(200)) as receiver:
        real = NotificationActivities(
            database.sessions, WebhookChannel(receiver.url, "secret")
        )

        @activity.defn(name=SEND_NOTIFICATION)
        async def send_notification(request: NotificationRequest) -> NotificationResult:
            result = await real.send_notification(request)
            if activity.info().attempt == 1:
                raise ApplicationError("worker lost after the notification was sent")
            return result

        worker = build_worker(
            time_env.client,
            database.settings,
            task_queue=unique_task_queue,
            engine=database.engine,
            activities=[send_notification],
        )
        probe = ProbeInput(
            task_queue=unique_task_queue,
            notification=notification_request("HD-NR0004:breach:1"),
        )
        output = await run_probe(time_env, worker, probe, unique_task_queue)
    async with database.sessions() as session:
        [record] = await repository.list_notifications(session, "HD-NR0004")

    assert output.notification is not None
    assert output.notification.delivered
    assert len(receiver.requests) == 1
    assert record.attempts == 1


def notification_request(notification_id: str) -> NotificationRequest:
    ticket_id = notification_id.split(":")[0]
    return NotificationRequest(
        notification_id=notification_id,
        ticket_id=ticket_id,
        recipient="dmitri.volkov",
        kind="sla_breached",
        subject=f"{ticket_id} breached its first response SLA",
        body="Escalation level 1",
        priority=Priority.P1,
    )


@pytest.fixture(autouse=True)
def _no_webhook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker's own channel must be the log channel, whatever the shell set.
    monkeypatch.delenv("HELPDESK_NOTIFICATION_CHANNEL", raising=False)
