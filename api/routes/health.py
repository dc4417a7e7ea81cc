"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from api.deps import AppState, State
from api.schemas import HealthRead
from helpdesk.db.repository import ping

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 3.0
# A worker long-polls for about a minute, so one that polled within this
# window is still there; Temporal keeps pollers listed for minutes after
# they stop, hence the window.
POLLER_FRESH = timedelta(seconds=90)


@router.get("/healthz", response_model=HealthRead, summary="The process is up")
async def healthz() -> HealthRead:
    return HealthRead(status="ok")


@router.get(
    "/readyz",
    response_model=HealthRead,
    summary="Temporal, the database and a worker are reachable",
    responses={503: {"model": HealthRead, "description": "a check failed"}},
)
async def readyz(state: State) -> JSONResponse:
    """Run every check; 503 names the ones that failed."""
    results = await asyncio.gather(
        _check("temporal", _temporal(state)),
        _check("database", _database(state)),
        _check("worker", _worker(state)),
    )
    checks = dict(results)
    ready = all(value == "ok" for value in checks.values())
    body = HealthRead(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": "5"},
    )


async def _check(name: str, probe: object) -> tuple[str, str]:
    assert asyncio.iscoroutine(probe)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            result: str = await probe
    except TimeoutError:
        return name, f"timed out after {CHECK_TIMEOUT_S:.0f}s"
    except Exception as exc:  # noqa: BLE001 - the probe reports any failure
        return name, f"failed: {type(exc).__name__}: {exc}"
    return name, result


async def _temporal(state: AppState) -> str:
    healthy = await state.client.service_client.check_health(
        timeout=timedelta(seconds=CHECK_TIMEOUT_S)
    )
    return "ok" if healthy else "failed: the frontend reports not serving"


async def _database(state: AppState) -> str:
    async with state.sessions() as session:
        await ping(session)
    return "ok"


async def _worker(state: AppState) -> str:
    """Check that a worker polled both the workflow and activity task queues."""
    queue = state.settings.task_queue
    missing = []
    for kind, label in (
        (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "workflow"),
        (TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, "activity"),
    ):
        response = await state.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=state.client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=kind,
            ),
            timeout=timedelta(seconds=CHECK_TIMEOUT_S),
        )
        cutoff = datetime.now(UTC) - POLLER_FRESH
        fresh = [
            poller
            for poller in response.pollers
            if poller.last_access_time.ToDatetime(tzinfo=UTC) >= cutoff
        ]
        if not fresh:
            missing.append(label)
    if missing:
        return f"failed: no worker polls task queue {queue!r} ({', '.join(missing)})"
    return "ok"
