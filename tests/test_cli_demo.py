"""`helpdesk demo` against the API served by uvicorn on a loopback port, with a
real worker on the dev server."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fixtures.helpdesk_stack import (
    ApiStack,
    free_port,
    running_worker,
    serving_api,
    stack_settings,
)
from temporalio.testing import WorkflowEnvironment

pytestmark = pytest.mark.asyncio(loop_scope="session")

FIXTURE = Path(__file__).parent / "fixtures" / "demo_tickets.jsonl"


@pytest_asyncio.fixture(loop_scope="session")
async def served(
    dev_env: WorkflowEnvironment, tmp_path: Path, unique_task_queue: str
) -> AsyncIterator[tuple[str, ApiStack]]:
    settings = stack_settings(tmp_path, unique_task_queue, dev_env.client)
    async with (
        running_worker(dev_env.client, settings),
        serving_api(dev_env.client, settings) as served,
    ):
        yield served


async def run_demo(url: str, *extra: str, file: Path = FIXTURE) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "helpdesk.cli",
        "demo",
        "--file",
        str(file),
        "--api",
        url,
        *extra,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "120"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode is not None
    return process.returncode, output.decode()


def count_row(output: str, label: str) -> int:
    """Return the number in the summary row that starts with `label`."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃| ").split("│")]
        if len(cells) == 2 and cells[0] == label:
            return int(cells[1])
    raise AssertionError(f"no row {label!r} in:\n{output}")


async def wait_for_queue(api: ApiStack, size: int) -> list[dict[str, Any]]:
    """Return the queue once it has `size` tickets: rows appear when the
    workflow first projects a ticket, a moment after intake."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20.0
    while True:
        response = await api.http.get("/v1/tickets", params={"limit": 50})
        items: list[dict[str, Any]] = response.json()["items"]
        if len(items) >= size or loop.time() > deadline:
            assert len(items) == size, items
            return items
        await asyncio.sleep(0.2)


async def test_demo_feeds_and_resolves(served: tuple[str, ApiStack]) -> None:
    url, api = served

    code, output = await run_demo(url, "--resolve-share", "0.5")

    assert code == 0, output
    assert "demo_tickets.jsonl:3: skipped, invalid JSON" in output
    assert "demo_tickets.jsonl:4: skipped, invalid ticket: title: Field required" in (
        output
    )
    assert "demo_tickets.jsonl:8: skipped, expected a JSON object" in output
    assert count_row(output, "lines read") == 10
    assert count_row(output, "bad lines skipped") == 3
    assert count_row(output, "sent") == 7
    assert count_row(output, "created") == 6
    assert count_row(output, "duplicates") == 1
    assert count_row(output, "failed") == 0
    assert count_row(output, "worked to resolution") == 3
    assert "all tickets accounted for: sent 7 = created 6 + duplicates 1" in output

    queue = await wait_for_queue(api, 6)
    assert sum(1 for ticket in queue if ticket["stage"] == "resolved") == 3
    refs = sorted(ticket["external_ref"] for ticket in queue)
    assert refs == [f"DEMO-00{n}" for n in (1, 2, 5, 6, 7, 8)]


async def test_demo_without_api_fails_clearly() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    code, output = await run_demo(url, "--resolve-share", "0")

    assert code == 1
    assert f"cannot reach the API at {url}" in output


async def test_demo_skips_line_that_is_not_utf8(tmp_path: Path) -> None:
    tickets = tmp_path / "tickets.jsonl"
    good = FIXTURE.read_bytes().splitlines()[0]
    tickets.write_bytes(good + b"\n" + b'{"title": "caf\xe9 lobby down"}\n' + good)
    url = f"http://127.0.0.1:{free_port()}"

    code, output = await run_demo(url, "--resolve-share", "0", file=tickets)

    # Rich wraps long lines at the terminal width; compare without the breaks.
    text = " ".join(output.split())
    assert f"{tickets}:2: skipped, not valid UTF-8 (byte 15 of the line)" in text
    assert "Traceback" not in output
    assert code == 1
    assert f"cannot reach the API at {url}" in text
