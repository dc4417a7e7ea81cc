"""Helpers for the ticket workflow tests: a real worker, a real SQLite file.

`ticket_stack` runs `worker.main.build_worker` (the ticket workflow with the
real activities) on a test's own task queue, over a SQLite file in the
test's tmp_path seeded with `TEST_ROSTER`. The notification channel is the
log channel, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from helpdesk.contracts import (
    STATE_QUERY,
    ActionRequest,
    TicketSnapshot,
    TicketWorkflowInput,
    workflow_id_for,
)
from helpdesk.db import create_engine, prepare_database, session_factory
from helpdesk.db.repository import (
    NotificationRecord,
    TicketRecord,
    get_history,
    get_ticket,
    list_notifications,
)
from helpdesk.domain import (
    ActionName,
    Category,
    Channel,
    EventKind,
    Priority,
    Reporter,
    ReporterKind,
    SpecialistModel,
    TicketEvent,
    TicketIntake,
    TicketType,
)
from helpdesk.ids import new_ticket_id
from helpdesk.settings import Settings
from helpdesk.sla import DEFAULT_POLICY, SlaPolicy
from worker.main import build_worker
from workflows.ticket import TicketWorkflow
from workflows.visibility import initial_search_attributes

# Three on-shift DevOps engineers so that reassignment has somewhere to go,
# one off-shift backend developer so that payment tickets are queued, and
# one support manager to page.
TEST_ROSTER = """
specialists:
  - {id: dev.ada, name: Ada Dev, roles: [devops_engineer], skills: [infrastructure]}
  - {id: dev.bo, name: Bo Dev, roles: [devops_engineer], skills: [infrastructure]}
  - {id: dev.cy, name: Cy Dev, roles: [devops_engineer], skills: [security]}
  - {id: sup.dee, name: Dee Support, roles: [support_engineer]}
  - {id: back.eve, name: Eve Backend, roles: [backend_developer], on_shift: false}
  - {id: int.fay, name: Fay Integration, roles: [integration_engineer]}
  - {id: mgr.gus, name: Gus Manager, roles: [support_manager]}
"""

DEVOPS = {"dev.ada", "dev.bo", "dev.cy"}

# Payloads the tests compare between the workflow and the database: the
# remaining time is computed at different instants on the two sides.
_VOLATILE = {
    "first_response": {"remaining_seconds"},
    "resolution": {"remaining_seconds"},
}


@dataclass
class Stack:
    env: WorkflowEnvironment
    client: Client
    task_queue: str
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    started: list[WorkflowHandle[Any, Any]] = field(default_factory=list)

    async def now(self) -> datetime:
        if self.env.supports_time_skipping:
            return await self.env.get_current_time()
        return datetime.now(UTC)

    async def start(
        self,
        intake: TicketIntake,
        *,
        policy: SlaPolicy = DEFAULT_POLICY,
        ticket_id: str | None = None,
    ) -> WorkflowHandle[TicketWorkflow, TicketSnapshot]:
        ticket_id = ticket_id or new_ticket_id()
        handle = await self.client.start_workflow(
            TicketWorkflow.run,
            TicketWorkflowInput(
                ticket_id=ticket_id,
                intake=intake,
                registered_at=await self.now(),
                policy=policy,
            ),
            id=workflow_id_for(ticket_id),
            task_queue=self.task_queue,
            search_attributes=initial_search_attributes(intake),
        )
        self.started.append(handle)
        return handle

    async def terminate_open_tickets(self) -> None:
        """Terminate the tickets this test left open.

        The time-skipping server is shared by the session: a ticket whose
        worker is gone would hold its timers' workflow tasks forever and
        stop the next test's clock from moving. Pending activities and
        workflow tasks are let finish first, because on that server a task
        that ends after its workflow was terminated also stops the clock.
        """
        for handle in self.started:
            description = await handle.describe()
            if description.status == WorkflowExecutionStatus.RUNNING:
                await wait_for(
                    functools.partial(_stays_idle, handle),
                    what=f"{handle.id} to finish its tasks",
                )
                await handle.terminate(reason="test finished")

    async def db_ticket(self, ticket_id: str) -> TicketRecord | None:
        async with self.sessions() as session:
            return await get_ticket(session, ticket_id)

    async def db_history(self, ticket_id: str) -> list[TicketEvent]:
        async with self.sessions() as session:
            return await get_history(session, ticket_id)

    async def db_notifications(self, ticket_id: str) -> list[NotificationRecord]:
        async with self.sessions() as session:
            return await list_notifications(session, ticket_id)

    async def set_specialist(self, specialist: SpecialistModel) -> None:
        from helpdesk.db.repository import upsert_specialist

        async with self.sessions.begin() as session:
            await upsert_specialist(session, specialist)


async def _is_idle(handle: WorkflowHandle[Any, Any]) -> bool:
    """Return True when the workflow has no activity or workflow task pending."""
    raw = (await handle.describe()).raw_description
    return not raw.pending_activities and not raw.HasField("pending_workflow_task")


async def _stays_idle(handle: WorkflowHandle[Any, Any]) -> bool:
    if not await _is_idle(handle):
        return False
    await asyncio.sleep(0.2)
    return await _is_idle(handle)


def make_settings(tmp_path: Path, task_queue: str, **overrides: Any) -> Settings:
    roster = tmp_path / "roster.yaml"
    roster.write_text(TEST_ROSTER)
    fields: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}",
        "roster_file": roster,
        "notification_channel": "log",
        "task_queue": task_queue,
        **overrides,
    }
    return Settings(**fields)


@asynccontextmanager
async def ticket_stack(
    env: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    *,
    activities: Sequence[Callable[..., Any]] | None = None,
    **settings_overrides: Any,
) -> AsyncIterator[Stack]:
    """Prepare the database and run a worker until the block ends.

    `settings_overrides` replace fields of the test settings, such as the
    notification channel.
    """
    settings = make_settings(tmp_path, task_queue, **settings_overrides)
    engine = create_engine(settings.database_url)
    try:
        await prepare_database(settings, engine)
        stack = Stack(
            env, env.client, task_queue, settings, engine, session_factory(engine)
        )
        worker = build_worker(
            env.client,
            settings,
            task_queue=task_queue,
            engine=engine,
            activities=activities,
        )
        async with worker:
            try:
                yield stack
            finally:
                await stack.terminate_open_tickets()
    finally:
        await engine.dispose()


def intake(
    *,
    type: TicketType = TicketType.INFRASTRUCTURE_ISSUE,
    category: Category = Category.INFRASTRUCTURE,
    priority: Priority = Priority.P1,
    title: str = "Game servers in eu-west drop every session",
    external_ref: str | None = None,
) -> TicketIntake:
    """Return an intake with all three values given, so no guessing is involved."""
    return TicketIntake(
        title=title,
        description="Players are disconnected every few minutes since 10:00 UTC.",
        channel=Channel.MONITORING,
        reporter=Reporter(kind=ReporterKind.MONITORING, name="grafana"),
        type=type,
        category=category,
        priority=priority,
        external_ref=external_ref,
    )


def policy(
    *,
    version: str = "test",
    first_response: dict[Priority, str] | None = None,
    resolution: dict[Priority, str] | None = None,
    **fields: Any,
) -> SlaPolicy:
    """Return the default policy with some targets or fields replaced."""
    priorities = {}
    for priority, targets in DEFAULT_POLICY.priorities.items():
        priorities[priority] = {
            "first_response": (first_response or {}).get(
                priority, targets.first_response
            ),
            "resolution": (resolution or {}).get(priority, targets.resolution),
        }
    data = DEFAULT_POLICY.model_dump()
    data.update(version=version, priorities=priorities, **fields)
    return SlaPolicy.model_validate(data)


async def act(
    handle: WorkflowHandle[Any, Any],
    action: ActionName,
    actor: str = "dev.ada",
    *,
    update_id: str | None = None,
    **fields: Any,
) -> TicketSnapshot:
    """Send an engineer action as its update and return the new snapshot."""
    return await handle.execute_update(
        action.value,
        ActionRequest(action=action, actor=actor, **fields),
        id=update_id,
        result_type=TicketSnapshot,
    )


async def snapshot(handle: WorkflowHandle[Any, Any]) -> TicketSnapshot:
    return await handle.query(STATE_QUERY, result_type=TicketSnapshot)


async def wait_for(
    check: Callable[[], Any],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    """Poll an async `check` until it returns something truthy, in real time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}; last: {last!r}"
    )


async def wait_snapshot(
    handle: WorkflowHandle[Any, Any],
    predicate: Callable[[TicketSnapshot], bool],
    *,
    timeout: float = 30.0,
    what: str = "snapshot",
) -> TicketSnapshot:
    async def check() -> TicketSnapshot | None:
        current = await snapshot(handle)
        return current if predicate(current) else None

    return await wait_for(check, timeout=timeout, what=what)


async def settle(stack: Stack, handle: WorkflowHandle[Any, Any]) -> TicketSnapshot:
    """Wait until every event of the ticket is in the database.

    After time moves on the time-skipping server, the workflow reacts in
    real time (timers fire, activities run); this returns once it is quiet:
    the database holds the snapshot's last event twice in a row.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60.0
    previous = -1
    while loop.time() < deadline:
        current = await snapshot(handle)
        record = await stack.db_ticket(current.id)
        if record is not None and record.last_seq == current.last_seq:
            if current.last_seq == previous:
                return current
            previous = current.last_seq
        await asyncio.sleep(0.2)
    raise AssertionError("the ticket did not settle within 60s")


def events_of(events: Sequence[TicketEvent], kind: EventKind) -> list[TicketEvent]:
    return [event for event in events if event.kind == kind]


def comparable(snapshot: TicketSnapshot) -> dict[str, Any]:
    """Return the snapshot without the fields that depend on when it was built."""
    return snapshot.model_dump(mode="json", exclude=_VOLATILE)


async def advance(stack: Stack, duration: timedelta) -> None:
    """Move the time-skipping server's clock on by `duration`."""
    await stack.env.sleep(duration)
