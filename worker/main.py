"""The ticket worker: runs TicketWorkflow and the ticket activities."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities import build_activities
from helpdesk.classification import preload, use_rules
from helpdesk.db import create_engine, prepare_database
from helpdesk.settings import Settings
from workflows.ticket import TicketWorkflow

log = structlog.get_logger("helpdesk.worker")

# How long running activities get to finish after SIGTERM before they are
# cancelled.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# How long to keep retrying the first connection to Temporal, which may
# still be starting (`helpdesk up` starts both at once).
CONNECT_TIMEOUT_S = 60.0


def worker_workflows() -> list[type]:
    """Return the workflow classes the ticket worker runs."""
    return [TicketWorkflow]


def build_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    engine: AsyncEngine | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
) -> Worker:
    """Return a worker for TicketWorkflow and every ticket activity.

    The activities use `engine`, or a new engine for
    `settings.database_url` that lives as long as the process. The database
    must be prepared first (`helpdesk.db.prepare_database`). `activities`
    replaces the activity list, for tests.
    """
    if engine is None:
        engine = create_engine(settings.database_url)
    if activities is None:
        activities = build_activities(settings, engine)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=worker_workflows(),
        activities=list(activities),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


async def connect(
    settings: Settings,
    *,
    timeout_s: float = CONNECT_TIMEOUT_S,
    stop: asyncio.Event | None = None,
) -> Client | None:
    """Connect to Temporal with the pydantic converter, retrying while it starts.

    Returns None if `stop` is set while waiting to retry. Raises the
    connection error once `timeout_s` has passed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    delay = 0.5
    while True:
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=pydantic_data_converter,
            )
        except RuntimeError as exc:
            if loop.time() + delay > deadline:
                log.error(
                    "worker.temporal.connect_failed",
                    temporal_address=settings.temporal_address,
                    timeout_s=timeout_s,
                    error=str(exc),
                )
                raise
            log.warning(
                "worker.temporal.connect_retry",
                temporal_address=settings.temporal_address,
                retry_in_s=delay,
                error=str(exc),
            )
        if stop is None:
            await asyncio.sleep(delay)
        else:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return None
            except TimeoutError:
                pass
        delay = min(delay * 2, 5.0)


def _database_label(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def run_worker(settings: Settings) -> None:
    """Prepare the database, connect to Temporal and run until SIGTERM or SIGINT.

    On a signal the worker stops polling, lets running activities finish
    for up to GRACEFUL_SHUTDOWN, and returns.
    """
    task_queue = settings.task_queue
    log.info(
        "worker.starting",
        temporal_address=settings.temporal_address,
        namespace=settings.temporal_namespace,
        task_queue=task_queue,
        database=_database_label(settings.database_url),
        notification_channel=settings.notification_channel,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []

    def _on_signal(signum: signal.Signals) -> None:
        received.append(signum.name)
        stop.set()

    handled = (signal.SIGTERM, signal.SIGINT)
    for signum in handled:
        loop.add_signal_handler(signum, _on_signal, signum)

    def stop_reason() -> str | None:
        return received[0] if received else None

    engine = create_engine(settings.database_url)
    try:
        # A broken rules file stops the worker here, and the language models
        # load now rather than on the first ticket.
        await asyncio.to_thread(
            use_rules,
            settings.classification_file,
            settings.classification_examples,
            cache_dir=settings.model_cache_dir,
        )
        await asyncio.to_thread(preload)
        seeded = await prepare_database(settings, engine)
        client = await connect(settings, stop=stop)
        if client is None or stop.is_set():
            log.info("worker.stopping", signal=stop_reason())
        else:
            await _serve(
                client, settings, engine, stop, stop_reason, seeded=len(seeded)
            )
    except Exception as exc:
        log.error("worker.failed", task_queue=task_queue, error=str(exc))
        raise
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await engine.dispose()
    log.info("worker.stopped", task_queue=task_queue)


async def _serve(
    client: Client,
    settings: Settings,
    engine: AsyncEngine,
    stop: asyncio.Event,
    stop_reason: Callable[[], str | None],
    *,
    seeded: int,
) -> None:
    """Run the worker until `stop` is set, then shut it down gracefully."""
    worker = build_worker(client, settings, engine=engine)
    running = asyncio.create_task(worker.run())
    log.info(
        "worker.started",
        task_queue=worker.task_queue,
        workflows=len(worker_workflows()),
        specialists_seeded=seeded,
    )
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        # The worker failed on its own, e.g. because the namespace is missing.
        stopping.cancel()
        running.result()
    log.info("worker.stopping", signal=stop_reason())
    await worker.shutdown()
    await running
