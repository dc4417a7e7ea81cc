"""Measure how late SLA timers fire, and how many events a ticket makes.

Starts a Temporal dev server (`temporal server start-dev`, on a free
loopback port) and a worker with the real activities over a SQLite file in
a temporary directory. Then it measures on real time:

- timer lateness: P1 tickets run under a policy whose first-response
  target is `--target` seconds. For each `sla_warning` and `sla_breached`
  event, the lateness is its `at` minus the instant the clock reached that
  threshold.
- a full lifecycle (acknowledge, diagnose, submit_fix, verify, close):
  ticket events, Temporal history events and payload bytes, and the
  round trip of each update (which includes the projection to SQLite).

    .venv/bin/python bench/breach_latency.py --tickets 10 --target 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from helpdesk import search_attributes
from helpdesk.contracts import (
    STATE_QUERY,
    ActionRequest,
    TicketSnapshot,
    TicketWorkflowInput,
    workflow_id_for,
)
from helpdesk.db import create_engine, prepare_database, session_factory
from helpdesk.db.repository import get_history
from helpdesk.domain import (
    ActionName,
    Category,
    Channel,
    EventKind,
    Priority,
    Reporter,
    ReporterKind,
    TicketEvent,
    TicketIntake,
    TicketType,
)
from helpdesk.ids import new_ticket_id
from helpdesk.logging import configure_logging
from helpdesk.settings import Settings
from helpdesk.sla import DEFAULT_POLICY, SlaPolicy
from helpdesk.temporal_bins import temporal_cli
from worker.main import build_worker
from workflows.ticket import TicketWorkflow
from workflows.visibility import initial_search_attributes

INTAKE = TicketIntake(
    title="Game servers in eu-west drop every session",
    description="Players are disconnected every few minutes.",
    channel=Channel.MONITORING,
    reporter=Reporter(kind=ReporterKind.MONITORING),
    type=TicketType.INFRASTRUCTURE_ISSUE,
    category=Category.INFRASTRUCTURE,
    priority=Priority.P1,
)


def short_policy(target_seconds: int) -> SlaPolicy:
    data = DEFAULT_POLICY.model_dump()
    data["version"] = f"bench-{target_seconds}s"
    data["priorities"][Priority.P1] = {
        "first_response": timedelta(seconds=target_seconds),
        "resolution": timedelta(seconds=target_seconds * 4),
    }
    return SlaPolicy.model_validate(data)


async def start_ticket(
    client: Client, task_queue: str, policy: SlaPolicy
) -> WorkflowHandle[Any, TicketSnapshot]:
    ticket_id = new_ticket_id()
    return await client.start_workflow(
        TicketWorkflow.run,
        TicketWorkflowInput(
            ticket_id=ticket_id,
            intake=INTAKE,
            registered_at=datetime.now(UTC),
            policy=policy,
        ),
        id=workflow_id_for(ticket_id),
        task_queue=task_queue,
        search_attributes=initial_search_attributes(INTAKE),
        result_type=TicketSnapshot,
    )


async def act(
    handle: WorkflowHandle[Any, Any], action: ActionName, **fields: Any
) -> float:
    """Send an action and return its round trip in milliseconds."""
    started = time.perf_counter()
    await handle.execute_update(
        action.value,
        ActionRequest(action=action, actor="bench", **fields),
        result_type=TicketSnapshot,
    )
    return (time.perf_counter() - started) * 1000


def lateness_seconds(event: TicketEvent, started_at: datetime, target: float) -> float:
    """Return how long after its threshold instant the event was recorded."""
    fraction = event.details.get("threshold") or 1.0
    instant = started_at + timedelta(seconds=target * fraction)
    return (event.at - instant).total_seconds()


def summary(values: list[float], unit: str) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"n={len(values)} min={ordered[0]:.3f}{unit} "
        f"median={statistics.median(ordered):.3f}{unit} p95={p95:.3f}{unit} "
        f"max={ordered[-1]:.3f}{unit}"
    )


async def measure_breaches(
    client: Client, task_queue: str, sessions: Any, tickets: int, target: int
) -> None:
    policy = short_policy(target)
    handles = [await start_ticket(client, task_queue, policy) for _ in range(tickets)]
    await asyncio.sleep(target + 3)

    warnings: list[float] = []
    breaches: list[float] = []
    for handle in handles:
        state = await handle.query(STATE_QUERY, result_type=TicketSnapshot)
        async with sessions() as session:
            events = await get_history(session, state.id)
        started_at = state.first_response.started_at
        for event in events:
            if event.details.get("clock") != "first_response":
                continue
            late = lateness_seconds(event, started_at, float(target))
            if event.kind == EventKind.SLA_BREACHED:
                breaches.append(late)
            elif event.kind == EventKind.SLA_WARNING:
                warnings.append(late)
        await handle.terminate(reason="benchmark finished")

    print(f"first-response target {target}s, {tickets} P1 tickets started together")  # noqa: T201
    print(f"  breach lateness  : {summary(breaches, 's')}")  # noqa: T201
    print(f"  warning lateness : {summary(warnings, 's')}")  # noqa: T201


async def measure_lifecycle(client: Client, task_queue: str, sessions: Any) -> None:
    handle = await start_ticket(client, task_queue, DEFAULT_POLICY)
    while (
        await handle.query(STATE_QUERY, result_type=TicketSnapshot)
    ).assignee is None:
        await asyncio.sleep(0.05)
    round_trips = [
        await act(handle, ActionName.ACKNOWLEDGE),
        await act(handle, ActionName.DIAGNOSE, note="dead pool"),
        await act(handle, ActionName.SUBMIT_FIX, note="pool replaced"),
        await act(handle, ActionName.VERIFY, passed=True),
        await act(handle, ActionName.CLOSE),
    ]
    closed = await handle.result()
    history = await handle.fetch_history()
    async with sessions() as session:
        events = await get_history(session, closed.id)
    payload_bytes = len(history.to_json())
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.kind.value] = kinds.get(event.kind.value, 0) + 1

    print("full lifecycle (register to close, P1, assigned at once)")  # noqa: T201
    print(f"  ticket events    : {len(events)} {kinds}")  # noqa: T201
    print(f"  history events   : {len(history.events)}")  # noqa: T201
    print(f"  history JSON     : {payload_bytes / 1024:.0f} KiB")  # noqa: T201
    print(f"  update round trip: {summary(round_trips, 'ms')}")  # noqa: T201


async def main(tickets: int, target: int) -> None:
    configure_logging(log_format="console", level="WARNING")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=pydantic_data_converter,
        search_attributes=list(search_attributes.ALL_KEYS),
        ui=False,
    )
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as directory:
            settings = Settings(
                database_url=f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}",
                notification_channel="log",
                task_queue=task_queue,
            )
            engine = create_engine(settings.database_url)
            await prepare_database(settings, engine)
            sessions = session_factory(engine)
            worker = build_worker(env.client, settings, engine=engine)
            print(  # noqa: T201
                f"{platform.machine()}, {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}, dev server, SQLite"
            )
            async with worker:
                await measure_lifecycle(env.client, task_queue, sessions)
                await measure_breaches(
                    env.client, task_queue, sessions, tickets, target
                )
            await engine.dispose()
    finally:
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tickets", type=int, default=10, help="P1 tickets to breach (default 10)"
    )
    parser.add_argument(
        "--target",
        type=int,
        default=30,
        help="first-response target of the bench policy in seconds (default 30)",
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.tickets, arguments.target))
