"""Record ticket workflow histories for the replay test (run by hand).

    .venv/bin/python tests/record_histories.py [--out tests/histories]

Runs five scenarios against the real activities and a SQLite file in a
temporary directory. A dev server started here runs a full lifecycle, a
long ticket that continues as new, and a ticket with a duplicate report
and an escalate action. A time-skipping server started here runs
an escalation, and a scenario with hold, priority change and reopens. Each run's
history is written as JSON (`<scenario>.json`, and `<scenario>-run<N>.json`
for the runs of a continued ticket). Re-record after a deliberate,
patched change of the workflow; never to make a failing replay pass.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from ticket_harness import Stack, act, advance, intake, settle, ticket_stack

from helpdesk import search_attributes
from helpdesk.contracts import REPORT_DUPLICATE_UPDATE, DuplicateReport, TicketSnapshot
from helpdesk.domain import ActionName, Category, HoldReason, Priority, TicketType
from helpdesk.temporal_bins import temporal_cli, temporal_test_server

HISTORIES = Path(__file__).parent / "histories"

Scenario = Callable[[Stack], Awaitable[WorkflowHandle[Any, Any]]]


async def lifecycle(stack: Stack) -> WorkflowHandle[Any, Any]:
    handle = await stack.start(intake(priority=Priority.P1))
    await settle(stack, handle)
    await act(handle, ActionName.ACKNOWLEDGE)
    await act(handle, ActionName.COMMENT, note="looking at the load balancer")
    await act(handle, ActionName.DIAGNOSE, note="dead pool behind the balancer")
    await act(handle, ActionName.SUBMIT_FIX, note="pool replaced")
    await act(handle, ActionName.VERIFY, passed=False)
    await act(handle, ActionName.SUBMIT_FIX, note="second pool replaced")
    await act(handle, ActionName.VERIFY, passed=True)
    await act(handle, ActionName.CLOSE)
    await handle.result()
    return handle


async def escalation(stack: Stack) -> WorkflowHandle[Any, Any]:
    handle = await stack.start(intake(priority=Priority.P1))
    await settle(stack, handle)
    await advance(stack, timedelta(hours=2))
    await settle(stack, handle)
    await act(handle, ActionName.ACKNOWLEDGE)
    await act(handle, ActionName.DIAGNOSE, note="broken deploy")
    await act(handle, ActionName.SUBMIT_FIX, note="rolled back")
    await act(handle, ActionName.VERIFY, passed=True)
    await act(handle, ActionName.CLOSE)
    await handle.result()
    return handle


async def hold_and_priority(stack: Stack) -> WorkflowHandle[Any, Any]:
    handle = await stack.start(intake(priority=Priority.P3))
    await settle(stack, handle)
    await act(handle, ActionName.ACKNOWLEDGE)
    await act(handle, ActionName.HOLD, reason=HoldReason.WAITING_FOR_REPORTER)
    await advance(stack, timedelta(hours=2))
    await act(handle, ActionName.RESUME)
    await act(handle, ActionName.CHANGE_PRIORITY, priority=Priority.P1)
    await advance(stack, timedelta(hours=3))
    await settle(stack, handle)
    await act(
        handle,
        ActionName.RECLASSIFY,
        type=TicketType.INTEGRATION_ISSUE,
        category=Category.API_INTEGRATION,
    )
    await act(handle, ActionName.ESCALATE, note="provider unreachable")
    await act(handle, ActionName.ACKNOWLEDGE, "int.fay")
    for _ in range(2):
        await act(handle, ActionName.DIAGNOSE, "int.fay", note="expired token")
        await act(handle, ActionName.SUBMIT_FIX, "int.fay", note="token rotated")
        await act(handle, ActionName.VERIFY, "int.fay", passed=True)
        await act(handle, ActionName.REOPEN, "sup.dee", note="fails again")
    await act(handle, ActionName.ACKNOWLEDGE, "int.fay")
    await act(handle, ActionName.DIAGNOSE, "int.fay", note="clock skew")
    await act(handle, ActionName.SUBMIT_FIX, "int.fay", note="NTP fixed")
    await act(handle, ActionName.VERIFY, "int.fay", passed=True)
    await advance(stack, timedelta(hours=73))
    await handle.result()
    return handle


async def continue_as_new(stack: Stack) -> WorkflowHandle[Any, Any]:
    handle = await stack.start(intake(priority=Priority.P2))
    await settle(stack, handle)
    await act(handle, ActionName.ACKNOWLEDGE)
    for number in range(50):
        await act(handle, ActionName.COMMENT, note=f"comment {number}")
    await settle(stack, handle)
    await act(handle, ActionName.DIAGNOSE, note="memory leak")
    await act(handle, ActionName.SUBMIT_FIX, note="patched")
    await act(handle, ActionName.VERIFY, passed=True)
    await act(handle, ActionName.CLOSE)
    await handle.result()
    return handle


async def duplicate(stack: Stack) -> WorkflowHandle[Any, Any]:
    ticket = intake(priority=Priority.P2, external_ref="alert-replay-dup")
    handle = await stack.start(ticket)
    report = DuplicateReport(
        external_ref="alert-replay-dup",
        channel="monitoring",
        title=ticket.title,
        reported_at=await stack.now(),
    )
    await handle.execute_update(
        REPORT_DUPLICATE_UPDATE, report, result_type=TicketSnapshot
    )
    await settle(stack, handle)
    await act(handle, ActionName.ACKNOWLEDGE)
    await act(handle, ActionName.ESCALATE, note="needs the network team")
    await act(handle, ActionName.DIAGNOSE, note="flapping uplink")
    await act(handle, ActionName.SUBMIT_FIX, note="uplink replaced")
    await act(handle, ActionName.VERIFY, passed=True)
    await act(handle, ActionName.CLOSE)
    await handle.result()
    return handle


async def write_histories(
    client: Client, handle: WorkflowHandle[Any, Any], name: str, out: Path
) -> list[Path]:
    """Write every run of the workflow, following continue-as-new from the first."""
    histories = []
    run_id = handle.first_execution_run_id
    while run_id:
        run = client.get_workflow_handle(handle.id, run_id=run_id)
        history = await run.fetch_history()
        histories.append(history)
        last = history.events[-1]
        continued = last.workflow_execution_continued_as_new_event_attributes
        run_id = (
            continued.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )

    written = []
    for number, history in enumerate(histories, start=1):
        suffix = "" if len(histories) == 1 else f"-run{number}"
        path = out / f"{name}{suffix}.json"
        path.write_text(history.to_json())
        written.append(path)
    return written


async def record(
    env: WorkflowEnvironment, scenarios: dict[str, Scenario], out: Path
) -> None:
    for name, scenario in scenarios.items():
        with tempfile.TemporaryDirectory() as directory:
            queue = f"record-{name}-{uuid.uuid4().hex[:8]}"
            async with ticket_stack(env, Path(directory), queue) as stack:
                handle = await scenario(stack)
                for path in await write_histories(env.client, handle, name, out):
                    print(f"wrote {path}")  # noqa: T201


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    dev = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=pydantic_data_converter,
        search_attributes=list(search_attributes.ALL_KEYS),
        ui=False,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=400",
        ],
    )
    try:
        await record(
            dev,
            {
                "lifecycle": lifecycle,
                "continue_as_new": continue_as_new,
                "duplicate": duplicate,
            },
            out,
        )
    finally:
        await dev.shutdown()

    skipping = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(),
        data_converter=pydantic_data_converter,
    )
    try:
        await skipping.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=skipping.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    for key in search_attributes.ALL_KEYS
                },
            )
        )
        await record(
            skipping,
            {"escalation": escalation, "hold_and_priority": hold_and_priority},
            out,
        )
    finally:
        await skipping.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=HISTORIES, help="directory for the JSON files"
    )
    asyncio.run(main(parser.parse_args().out))
