"""`helpdesk demo`: feed a JSONL file of tickets through the API and work some.

Each line is one ticket in the intake shape; keys that are not intake fields
(such as `expected`) are dropped. A line that is not valid JSON or not a
valid ticket is reported with its number and skipped. A share of the
created tickets is then worked as an engineer would (acknowledge, diagnose,
submit a fix, verify), and a summary shows where every ticket ended up.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from helpdesk.domain import Stage, TicketIntake

INTAKE_FIELDS = frozenset(TicketIntake.model_fields)
# Stages in which an engineer can start working the ticket.
WORKABLE = {Stage.ASSIGNED.value, Stage.DIAGNOSTICS.value}
RETRIES = 4


@dataclass(frozen=True)
class DemoOptions:
    file: Path
    api: str = "http://127.0.0.1:8000"
    resolve_share: float = 0.5
    concurrency: int = 8
    seed: int = 7
    assign_timeout: float = 30.0


@dataclass
class DemoReport:
    """Outcome of a demo run: bad lines, intake results and resolutions."""

    lines: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    sent: int = 0
    created: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    not_resolved: list[tuple[str, str]] = field(default_factory=list)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def accounted(self) -> bool:
        """True when every ticket sent was created, a duplicate or failed."""
        return self.sent == len(self.created) + len(self.duplicates) + len(self.failed)


def read_tickets(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], DemoReport]:
    """Return the valid intake bodies with their line numbers, and the report
    that lists the bad lines."""
    report = DemoReport()
    tickets: list[tuple[int, dict[str, Any]]] = []
    # Lines are decoded one by one, so a line that is not UTF-8 is skipped
    # like any other bad line instead of stopping the whole file.
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            report.lines += 1
            body, problem = _parse_line(raw)
            if body is None:
                report.bad_lines.append((number, problem))
            else:
                tickets.append((number, body))
    return tickets, report


def _parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        # utf-8-sig also reads a first line that starts with a byte order mark.
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, (
            f"not valid UTF-8 (byte {exc.start + 1} of the line); "
            "save the file as UTF-8"
        )
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(data, dict):
        return None, f"expected a JSON object, found {type(data).__name__}"
    body = {key: value for key, value in data.items() if key in INTAKE_FIELDS}
    try:
        TicketIntake.model_validate(body)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc']) or 'ticket'}: {error['msg']}"
            for error in exc.errors()
        ]
        return None, "invalid ticket: " + "; ".join(problems)
    return body, ""


async def _request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request, retrying on 503 and connection errors with backoff."""
    delay = 0.5
    for attempt in range(RETRIES + 1):
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.TransportError:
            if attempt == RETRIES:
                raise
        else:
            if response.status_code != 503 or attempt == RETRIES:
                return response
            delay = max(delay, float(response.headers.get("Retry-After", delay)))
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


async def _bounded(limit: asyncio.Semaphore, work: Awaitable[None]) -> None:
    """Await `work` (a coroutine not started yet) while holding a slot of `limit`."""
    async with limit:
        await work


async def post_tickets(
    http: httpx.AsyncClient,
    tickets: list[tuple[int, dict[str, Any]]],
    report: DemoReport,
    concurrency: int,
    advance: Callable[[], None],
) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def post(number: int, body: dict[str, Any]) -> None:
        report.sent += 1
        try:
            response = await _request(http, "POST", "/v1/tickets", json=body)
        except httpx.HTTPError as exc:
            report.failed.append((number, f"request failed: {exc!r}"))
            advance()
            return
        if response.status_code == 201:
            report.created.append(response.json()["id"])
        elif response.status_code == 200:
            report.duplicates.append(response.json()["id"])
        else:
            report.failed.append((number, _error_text(response)))
        advance()

    await asyncio.gather(
        *(_bounded(limit, post(number, body)) for number, body in tickets)
    )


def _error_text(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    return f"HTTP {response.status_code}: {message}"


async def wait_until_workable(
    http: httpx.AsyncClient, ticket_id: str, timeout: float
) -> dict[str, Any] | None:
    """Poll the ticket until it has an assignee in a workable stage."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await _request(http, "GET", f"/v1/tickets/{ticket_id}")
        if response.status_code == 200:
            ticket: dict[str, Any] = response.json()
            if ticket["stage"] in WORKABLE and ticket["assignee"]:
                return ticket
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.3)


def engineer_steps(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the actions that take a ticket from assigned to resolved."""
    actor = ticket["assignee"]["id"]
    steps: list[dict[str, Any]] = []
    if ticket["stage"] == Stage.ASSIGNED.value:
        steps.append({"action": "acknowledge", "actor": actor})
    steps += [
        {
            "action": "diagnose",
            "actor": actor,
            "note": "Reproduced from the report; root cause found in the "
            "service logs and metrics.",
        },
        {"action": "submit_fix", "actor": actor, "note": "Fix deployed."},
        {"action": "verify", "actor": actor, "passed": True, "note": "Confirmed."},
    ]
    return steps


async def work_ticket(
    http: httpx.AsyncClient, ticket_id: str, report: DemoReport, timeout: float
) -> None:
    ticket = await wait_until_workable(http, ticket_id, timeout)
    if ticket is None:
        report.not_resolved.append(
            (ticket_id, f"not assigned to anyone within {timeout:.0f}s")
        )
        return
    for step in engineer_steps(ticket):
        response = await _request(
            http,
            "POST",
            f"/v1/tickets/{ticket_id}/actions",
            json=step,
            headers={"Idempotency-Key": f"demo-{ticket_id}-{step['action']}"},
        )
        if response.status_code != 200:
            report.not_resolved.append(
                (ticket_id, f"{step['action']}: {_error_text(response)}")
            )
            return
    report.resolved.append(ticket_id)


async def fetch_final(
    http: httpx.AsyncClient, report: DemoReport, concurrency: int
) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def fetch(ticket_id: str) -> None:
        response = await _request(http, "GET", f"/v1/tickets/{ticket_id}")
        if response.status_code == 200:
            report.final[ticket_id] = response.json()

    await asyncio.gather(
        *(
            _bounded(limit, fetch(ticket_id))
            for ticket_id in dict.fromkeys(report.created)
        )
    )


def _breakdown(title: str, counts: Counter[str]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(title.split()[-1])
    table.add_column("tickets", justify="right")
    for key, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(key, str(count))
    return table


def print_summary(console: Console, report: DemoReport) -> None:
    tickets = list(report.final.values())
    assignees = Counter(
        t["assignee"]["name"] if t["assignee"] else "unassigned" for t in tickets
    )
    for table in (
        _breakdown("Tickets by type", Counter(t["type"] for t in tickets)),
        _breakdown("Tickets by stage", Counter(t["stage"] for t in tickets)),
        _breakdown("Tickets by assignee", assignees),
        _breakdown("Tickets by SLA state", Counter(t["sla"]["state"] for t in tickets)),
    ):
        console.print(table)

    totals = Table(title="Intake", title_justify="left")
    totals.add_column("count")
    totals.add_column("tickets", justify="right")
    for label, value in (
        ("lines read", report.lines),
        ("bad lines skipped", len(report.bad_lines)),
        ("sent", report.sent),
        ("created", len(report.created)),
        ("duplicates", len(report.duplicates)),
        ("failed", len(report.failed)),
        ("worked to resolution", len(report.resolved)),
        ("not resolved", len(report.not_resolved)),
    ):
        totals.add_row(label, str(value))
    console.print(totals)

    balance = (
        f"sent {report.sent} = created {len(report.created)} + duplicates "
        f"{len(report.duplicates)} + failed {len(report.failed)}"
    )
    if report.accounted:
        console.print(f"[green]all tickets accounted for: {balance}[/green]")
    else:
        console.print(f"[red]tickets unaccounted for: {balance} does not hold[/red]")
    for number, problem in report.failed:
        console.print(f"[red]line {number}: {problem}[/red]")
    for ticket_id, problem in report.not_resolved:
        console.print(f"[yellow]{ticket_id} not resolved: {problem}[/yellow]")


async def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """Run the demo; return 0 when every valid line was accepted, else 1."""
    console = console or Console()
    try:
        tickets, report = read_tickets(options.file)
    except OSError as exc:
        console.print(f"[red]error: cannot read {options.file}: {exc.strerror}[/red]")
        return 1
    for number, problem in report.bad_lines:
        console.print(f"[yellow]{options.file}:{number}: skipped, {problem}[/yellow]")

    async with httpx.AsyncClient(base_url=options.api, timeout=60.0) as http:
        try:
            await http.get("/healthz")
        except httpx.TransportError as exc:
            console.print(
                f"[red]error: cannot reach the API at {options.api} ({exc!r}); "
                "start it with `helpdesk up` or pass --api URL[/red]"
            )
            return 1

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
        ) as progress:
            intake = progress.add_task("posting tickets", total=len(tickets))
            await post_tickets(
                http,
                tickets,
                report,
                options.concurrency,
                lambda: progress.advance(intake),
            )

            chosen = sorted(set(report.created))
            count = round(len(chosen) * options.resolve_share)
            chosen = random.Random(options.seed).sample(chosen, count)
            working = progress.add_task("working tickets", total=len(chosen))
            limit = asyncio.Semaphore(options.concurrency)

            async def work(ticket_id: str) -> None:
                await work_ticket(http, ticket_id, report, options.assign_timeout)
                progress.advance(working)

            await asyncio.gather(
                *(_bounded(limit, work(ticket_id)) for ticket_id in chosen)
            )
            await fetch_final(http, report, options.concurrency)

    print_summary(console, report)
    return 0 if not report.failed and report.accounted else 1
