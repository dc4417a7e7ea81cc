"""The worker process: start, serve, and stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from helpdesk.roster import load_roster

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


async def read_until(
    stream: asyncio.StreamReader, event: str, lines: list[dict[str, object]]
) -> None:
    """Read JSON log lines into `lines` until one has `event`."""
    while True:
        raw = await stream.readline()
        if not raw:
            raise AssertionError(f"the worker exited before logging {event}: {lines}")
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            lines.append({"event": raw.decode(errors="replace").rstrip()})
            continue
        lines.append(line)
        if line.get("event") == event:
            return


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"]
)
async def test_worker_stops_cleanly_on_signal(
    dev_env: WorkflowEnvironment,
    unique_task_queue: str,
    tmp_path: Path,
    stop_signal: signal.Signals,
) -> None:
    database = tmp_path / "data" / "helpdesk.db"
    env = {
        **os.environ,
        "HELPDESK_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "HELPDESK_TASK_QUEUE": unique_task_queue,
        "HELPDESK_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "HELPDESK_LOG_FORMAT": "json",
        "HELPDESK_NOTIFICATION_CHANNEL": "log",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[dict[str, object]] = []
    try:
        await asyncio.wait_for(
            read_until(process.stderr, "worker.started", lines), START_TIMEOUT_S
        )
        process.send_signal(stop_signal)
        await asyncio.wait_for(
            read_until(process.stderr, "worker.stopped", lines), STOP_TIMEOUT_S
        )
        exit_code = await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    events = [line["event"] for line in lines]
    stopping = next(line for line in lines if line["event"] == "worker.stopping")
    with sqlite3.connect(database) as connection:
        specialists = connection.execute("SELECT count(*) FROM specialists").fetchone()

    assert exit_code == 0
    assert events.index("worker.starting") < events.index("worker.started")
    assert events.index("worker.started") < events.index("worker.stopping")
    assert events[-1] == "worker.stopped"
    assert stopping["signal"] == stop_signal.name
    assert specialists == (len(load_roster().specialists),)


async def test_worker_stops_while_waiting_for_temporal(
    unique_task_queue: str, tmp_path: Path
) -> None:
    # A bound socket that never listens: connections to it are refused, so
    # the worker keeps retrying until the signal.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        port = closed_port.getsockname()[1]
        env = {
            **os.environ,
            "HELPDESK_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "HELPDESK_TASK_QUEUE": unique_task_queue,
            "HELPDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hd.db'}",
            "HELPDESK_LOG_FORMAT": "json",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "worker",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        lines: list[dict[str, object]] = []
        try:
            await asyncio.wait_for(
                read_until(process.stderr, "worker.temporal.connect_retry", lines),
                START_TIMEOUT_S,
            )
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(
                read_until(process.stderr, "worker.stopped", lines), STOP_TIMEOUT_S
            )
            exit_code = await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    events = [line["event"] for line in lines]

    assert exit_code == 0
    assert "worker.started" not in events
    assert events[-2:] == ["worker.stopping", "worker.stopped"]
