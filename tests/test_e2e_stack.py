"""`helpdesk up` as a subprocess: one ticket's whole life over real HTTP,
across a SIGKILL of the whole stack and a clean SIGTERM stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.helpdesk_stack import free_port
from temporalio.client import Client

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0

# Short first-response targets so that an SLA timer fires during the test.
FAST_POLICY = """\
version: "e2e"
priorities:
  P1: {first_response: 25s, resolution: 1h}
  P2: {first_response: 30m, resolution: 8h}
  P3: {first_response: 2h, resolution: 24h}
  P4: {first_response: 8h, resolution: 72h}
"""


def helpdesk_command() -> list[str]:
    script = Path(sys.executable).parent / "helpdesk"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "helpdesk.cli"]


@dataclass
class StackProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Ports:
    api: int
    temporal: int
    ui: int

    @property
    def all(self) -> list[int]:
        return [self.api, self.temporal, self.ui]


class Stack:
    """Start and stop `helpdesk up` on one data directory and fixed ports."""

    def __init__(self, data_dir: Path, ports: Ports, policy: Path) -> None:
        self.data_dir = data_dir
        self.ports = ports
        self.policy = policy
        self.current: StackProcess | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    async def start(self) -> None:
        self.starts += 1
        log = self.data_dir.parent / f"stack-{self.starts}.log"
        command = [
            *helpdesk_command(),
            "up",
            "--data-dir",
            str(self.data_dir),
            "--api-port",
            str(self.ports.api),
            "--temporal-port",
            str(self.ports.temporal),
            "--ui-port",
            str(self.ports.ui),
            "--sla-policy",
            str(self.policy),
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.current = StackProcess(process, log)
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        assert self.current is not None
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        async with httpx.AsyncClient(base_url=self.url, timeout=5.0) as http:
            while asyncio.get_running_loop().time() < deadline:
                if self.current.process.poll() is not None:
                    raise AssertionError(
                        f"helpdesk up exited with {self.current.process.returncode}:\n"
                        + self.current.output()
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.3)
        raise AssertionError(f"the stack was not ready:\n{self.current.output()}")

    async def kill_group(self) -> None:
        """SIGKILL every process of the stack at once, as a power cut would."""
        assert self.current is not None
        os.killpg(self.current.process.pid, signal.SIGKILL)
        await asyncio.to_thread(self.current.process.wait, STOP_TIMEOUT_S)
        await self._wait_ports_free()

    async def terminate(self) -> int:
        """Send SIGTERM to the supervisor only and return its exit code."""
        assert self.current is not None
        self.current.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.current.process.wait, STOP_TIMEOUT_S)
        await self._wait_ports_free()
        return code

    async def _wait_ports_free(self) -> None:
        deadline = asyncio.get_running_loop().time() + STOP_TIMEOUT_S
        while not all(port_free(port) for port in self.ports.all):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"ports still in use after stop: {self.ports}")
            await asyncio.sleep(0.2)

    def cleanup(self) -> None:
        if self.current is None or self.current.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.current.process.pid, signal.SIGKILL)
        self.current.process.wait(STOP_TIMEOUT_S)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    policy = tmp_path / "sla-policy.yaml"
    policy.write_text(FAST_POLICY)
    ports = Ports(api=free_port(), temporal=free_port(), ui=free_port())
    running = Stack(tmp_path / "data", ports, policy)
    try:
        yield running
    finally:
        running.cleanup()


@contextlib.asynccontextmanager
async def http_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30.0) as http:
        yield http


async def wait_for(
    http: httpx.AsyncClient,
    ticket_id: str,
    check: Any,
    what: str,
    timeout: float = 60.0,
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    ticket: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        response = await http.get(f"/v1/tickets/{ticket_id}")
        if response.status_code == 200:
            ticket = response.json()
            if check(ticket):
                return ticket
        await asyncio.sleep(0.25)
    raise AssertionError(f"{ticket_id}: {what} did not happen; last state {ticket}")


async def act(
    http: httpx.AsyncClient, ticket_id: str, action: str, **fields: Any
) -> dict[str, Any]:
    response = await http.post(
        f"/v1/tickets/{ticket_id}/actions",
        json={"action": action, **fields},
        headers={"Idempotency-Key": f"e2e-{ticket_id}-{action}"},
    )
    assert response.status_code == 200, f"{action}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


async def history(http: httpx.AsyncClient, ticket_id: str) -> list[dict[str, Any]]:
    response = await http.get(f"/v1/tickets/{ticket_id}/history")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


P1_TICKET = {
    "title": "Payments API returns 500 for every deposit",
    "description": "Cashier deposits fail with HTTP 500 since 09:12 UTC.",
    "channel": "monitoring",
    "reporter": {"kind": "monitoring", "name": "alertmanager"},
    "type": "technical_incident",
    "category": "infrastructure",
    "priority": "P1",
}


async def test_ticket_survives_kill_and_restart(stack: Stack) -> None:
    await stack.start()
    async with http_client(stack) as http:
        created = await http.post(
            "/v1/tickets", json={**P1_TICKET, "external_ref": "e2e-alert-1"}
        )
        assert created.status_code == 201, created.text
        ticket_id = created.json()["id"]
        # A second P1 that is never acknowledged. Its first-response timer must
        # fire even though the stack dies before it is due.
        unattended = await http.post("/v1/tickets", json=P1_TICKET)
        assert unattended.status_code == 201, unattended.text
        unattended_id = unattended.json()["id"]

        ticket = await wait_for(
            http, ticket_id, lambda t: t["stage"] == "assigned", "assignment"
        )
        actor = ticket["assignee"]["id"]
        await act(http, ticket_id, "acknowledge", actor=actor)
        diagnosed = await act(
            http, ticket_id, "diagnose", actor=actor, note="Expired TLS certificate."
        )
        assert diagnosed["stage"] == "correction"

    await stack.kill_group()
    await stack.start()

    async with http_client(stack) as http:
        after_kill = (await http.get(f"/v1/tickets/{ticket_id}")).json()
        assert after_kill["stage"] == "correction"
        assert after_kill["sla"]["first_response"]["met_at"] is not None
        fixed = await act(http, ticket_id, "submit_fix", actor=actor, note="Renewed.")
        assert fixed["stage"] == "solution_check"
        await wait_for(
            http,
            unattended_id,
            lambda t: t["sla"]["first_response"]["breached"],
            "the first-response breach after the restart",
        )

    assert await stack.terminate() == 0
    await stack.start()

    async with http_client(stack) as http:
        resolved = await act(http, ticket_id, "verify", actor=actor, passed=True)
        assert resolved["stage"] == "resolved"
        closed = await act(http, ticket_id, "close", actor=actor)
        assert closed["stage"] == "closed"

        stored = await wait_for(
            http, ticket_id, lambda t: t["source"] == "database", "the stored read"
        )
        assert stored["stage"] == "closed"
        kinds = [event["kind"] for event in await history(http, ticket_id)]
        assert kinds[0] == "registered"
        for kind in ("classified", "assigned", "acknowledged", "resolved", "closed"):
            assert kind in kinds
        breaches = await history(http, unattended_id)
        assert "sla_breached" in [event["kind"] for event in breaches]

    await assert_found_by_priority(stack, ticket_id)
    assert await stack.terminate() == 0
    assert_each_child_logged(stack.data_dir / "logs")


def assert_each_child_logged(logs: Path) -> None:
    """Every child writes its own log in the data directory, kept across runs."""
    worker = (logs / "worker.log").read_text(errors="replace")
    api = (logs / "api.log").read_text(errors="replace")
    assert (logs / "temporal.log").exists()
    assert worker.count("worker.started") == 3, worker[-2000:]
    assert api.count("api.started") == 3, api[-2000:]


async def assert_found_by_priority(stack: Stack, ticket_id: str) -> None:
    """The closed ticket is listed by a TicketPriority query (eventually)."""
    client = await Client.connect(f"127.0.0.1:{stack.ports.temporal}")
    query = f'TicketPriority = "P1" AND WorkflowId = "ticket-{ticket_id}"'
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30.0
    while True:
        found = [execution.id async for execution in client.list_workflows(query)]
        if found:
            assert found == [f"ticket-{ticket_id}"]
            return
        if loop.time() > deadline:
            raise AssertionError(f"no workflow matched {query!r}")
        await asyncio.sleep(0.5)


async def test_up_refuses_bad_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: "x"\npriorities:\n  P1: {first_response: 1x}\n')

    result = await asyncio.to_thread(
        subprocess.run,
        [
            *helpdesk_command(),
            "up",
            "--data-dir",
            str(tmp_path),
            "--sla-policy",
            str(policy),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    assert f"{policy}:3" in result.stderr
    assert "invalid duration '1x'" in result.stderr
    assert not (tmp_path / "temporal.db").exists()


async def test_up_refuses_taken_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = await asyncio.to_thread(
            subprocess.run,
            [
                *helpdesk_command(),
                "up",
                "--data-dir",
                str(tmp_path),
                "--api-port",
                str(port),
                "--temporal-port",
                str(free_port()),
                "--ui-port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--api-port" in result.stderr


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
async def test_up_restarts_crashed_worker(stack: Stack) -> None:
    await stack.start()
    assert stack.current is not None
    supervisor = stack.current.process.pid
    workers = [pid for pid in child_pids(supervisor) if " worker" in command_line(pid)]
    assert len(workers) == 1, [command_line(pid) for pid in child_pids(supervisor)]

    os.kill(workers[0], signal.SIGKILL)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60.0
    while "restarting worker" not in stack.current.output():
        assert loop.time() < deadline, stack.current.output()
        await asyncio.sleep(0.2)
    async with http_client(stack) as http:
        created = await http.post("/v1/tickets", json=P1_TICKET)
        assert created.status_code == 201, created.text
        await wait_for(
            http,
            created.json()["id"],
            lambda t: t["stage"] == "assigned",
            "assignment by the restarted worker",
        )
    assert await stack.terminate() == 0
