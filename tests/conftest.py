"""Fixtures shared by the whole suite: real Temporal servers, started once.

Each test still runs its own worker on its own task queue (see
`unique_task_queue`), so tests never see each other's tickets.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from helpdesk import search_attributes
from helpdesk.temporal_bins import temporal_cli, temporal_test_server


@pytest_asyncio.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, with the ticket search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(),
        data_converter=pydantic_data_converter,
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                for key in search_attributes.ALL_KEYS
            },
        )
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (in memory), with the ticket search attributes.

    Continue-as-new is suggested after 400 history events, so tests can see
    a long-lived ticket roll over without thousands of actions.
    """
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=pydantic_data_converter,
        search_attributes=list(search_attributes.ALL_KEYS),
        ui=False,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=400",
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session", autouse=True)
def trained_model_cache() -> Path:
    """Train the text model once per checkout and share it with every process.

    Workers started by the tests (`helpdesk up`, `python -m worker`) inherit
    HELPDESK_MODEL_CACHE_DIR and load the cached model in about a second,
    rather than each spending tens of seconds training it.
    """
    from helpdesk.classification import get_classifier
    from helpdesk.classification.model import cache_key

    folder = Path(__file__).resolve().parent.parent / ".pytest_cache" / "text-model"
    os.environ["HELPDESK_MODEL_CACHE_DIR"] = str(folder)
    classifier = get_classifier()
    key = cache_key(classifier.examples, classifier.rules.model)
    if not (folder / f"text-model-{key}.pickle").is_file():
        classifier.preload()
    return folder


@pytest.fixture
def unique_task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


# --- Databases -------------------------------------------------------------
#
# `postgres_url` is a PostgreSQL server for the whole session: the one in
# HELPDESK_TEST_POSTGRES_URL (its user must be allowed to CREATE DATABASE),
# or else a throwaway cluster started from the local PostgreSQL binaries.
# `database_url` gives each test a fresh, empty database, once on SQLite and
# once on PostgreSQL.

POSTGRES_URL_ENV = "HELPDESK_TEST_POSTGRES_URL"
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _postgres_bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(
        (Path(p) for p in glob.glob(POSTGRES_BIN_GLOB)),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for candidate in reversed(candidates):
        if (candidate / "pg_ctl").exists() and (candidate / "initdb").exists():
            return candidate
    pytest.fail(
        "PostgreSQL binaries (initdb, pg_ctl) were not found on PATH or in "
        f"{POSTGRES_BIN_GLOB}: install PostgreSQL 15 or set {POSTGRES_URL_ENV} "
        "to a server where the user may create databases",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_cluster_owner(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root, so as root the cluster runs as the
    # `postgres` system user that the Debian packages create.
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL server's `postgres` database (asyncpg driver)."""
    external = os.environ.get(POSTGRES_URL_ENV)
    if external:
        yield external
        return

    bin_dir = _postgres_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="helpdesk-pg-"))
    data_dir = root / "data"
    log_file = root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres", group="postgres")
    port = _free_port()

    def run(command: list[str]) -> None:
        result = subprocess.run(
            _as_cluster_owner(command), capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            server_log = log_file.read_text() if log_file.exists() else ""
            pytest.fail(
                f"{' '.join(command)} failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}{server_log}",
                pytrace=False,
            )

    run(
        [
            str(bin_dir / "initdb"),
            "--pgdata",
            str(data_dir),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        ]
    )
    server_options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    run(
        [
            str(bin_dir / "pg_ctl"),
            "--pgdata",
            str(data_dir),
            "--log",
            str(log_file),
            "--options",
            server_options,
            "--wait",
            "start",
        ]
    )
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_cluster_owner(
                [
                    str(bin_dir / "pg_ctl"),
                    "--pgdata",
                    str(data_dir),
                    "--mode",
                    "fast",
                    "--wait",
                    "stop",
                ]
            ),
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.asynccontextmanager
async def _fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """Create an empty database on the server, yield its URL, then drop it."""
    import asyncpg
    from sqlalchemy.engine import make_url

    server = make_url(server_url)
    name = f"helpdesk_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = server.set(drivername="postgresql").render_as_string(
        hide_password=False
    )
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """A URL of a new, empty database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    async with _fresh_postgres_database(server_url) as url:
        yield url
