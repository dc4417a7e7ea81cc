"""Fixtures shared by the whole suite: real Temporal servers, started once.

Each test still runs its own worker on its own task queue (see
`unique_task_queue`), so tests never see each other's tickets.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

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


@pytest.fixture
def unique_task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"
