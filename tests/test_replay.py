"""Replay recorded ticket histories against the current workflow code.

A change that alters the order of timers, activities or other commands for
a ticket already running fails here with a NondeterminismError: guard such
a change with `workflow.patched(...)`. The histories come from real runs,
recorded by `tests/record_histories.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.ticket import TicketWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_cover_the_scenarios() -> None:
    names = {path.stem for path in HISTORIES}

    assert {"lifecycle", "escalation", "hold_and_priority"} <= names
    assert any(name.startswith("continue_as_new-run") for name in names)


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"ticket-replay-{path.stem}", path.read_text())
    replayer = Replayer(
        workflows=[TicketWorkflow], data_converter=pydantic_data_converter
    )

    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"
