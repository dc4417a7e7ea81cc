"""The FastAPI application: intake, tickets, actions, specialists and probes.

Run it with `helpdesk api` (uvicorn), or build it in tests with
`create_app(settings, client=...)`. It keeps no state of its own, so any
number of replicas can serve behind a load balancer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api import errors
from api.deps import AppState
from api.limits import BodySizeLimit
from api.routes import health, specialists, tickets
from api.service import TicketService
from helpdesk.db import create_engine, session_factory, upgrade_database
from helpdesk.logging import get_logger
from helpdesk.policy_file import load_policy
from helpdesk.settings import Settings, get_settings
from helpdesk.sla import DEFAULT_POLICY, SlaPolicy

log = get_logger("helpdesk.api")

DESCRIPTION = """\
Case orchestration for technical support of a 24/7 online gaming platform.
Every ticket is a durable Temporal workflow from registration to closure;
engineers move it on with actions, and SLA clocks and escalations run on
their own.

Errors have one shape: `{"error": {"code", "message", "field", "problems"}}`.
"""


def load_sla_policy(settings: Settings) -> SlaPolicy:
    """Return the policy from `HELPDESK_SLA_POLICY_FILE`, or the built-in one.

    Raises PolicyFileError naming the line of each problem.
    """
    if settings.sla_policy_file is None:
        return DEFAULT_POLICY
    return load_policy(settings.sla_policy_file)


async def connect_temporal(settings: Settings) -> Client:
    """Return a lazy client: it connects on first use, so the API starts (and
    /readyz reports the problem) while Temporal is down."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        lazy=True,
    )


def create_app(
    settings: Settings | None = None,
    *,
    client: Client | None = None,
    policy: SlaPolicy | None = None,
) -> FastAPI:
    """Build the application; the policy file is read and checked now."""
    settings = settings or get_settings()
    sla_policy = policy or load_sla_policy(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await upgrade_database(settings.database_url)
        engine = create_engine(settings.database_url)
        temporal = client or await connect_temporal(settings)
        sessions = session_factory(engine)
        app.state.helpdesk = AppState(
            settings=settings,
            client=temporal,
            sessions=sessions,
            tickets=TicketService(
                temporal,
                sessions,
                task_queue=settings.task_queue,
                policy=sla_policy,
            ),
        )
        log.info(
            "api.started",
            temporal=settings.temporal_address,
            namespace=settings.temporal_namespace,
            task_queue=settings.task_queue,
            sla_policy=sla_policy.version,
        )
        try:
            yield
        finally:
            await engine.dispose()
            log.info("api.stopped")

    # The docs pages load Swagger UI and ReDoc from files that ship in the
    # fastapi-offline wheel, so /docs and /redoc work without internet access.
    app = FastAPIOffline(
        title="helpdesk",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(tickets.router)
    app.include_router(specialists.router)
    app.include_router(health.router)
    return app
