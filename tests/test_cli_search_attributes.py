"""`helpdesk register-search-attributes` against the real dev server, on a
namespace created without the ticket search attributes."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from fixtures.helpdesk_stack import bare_namespace, running_api, stack_settings
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from helpdesk import search_attributes

pytestmark = pytest.mark.asyncio(loop_scope="session")

KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
NAMES = [key.name for key in search_attributes.ALL_KEYS]


async def register(client: Client) -> tuple[int, str]:
    """Run the command on the client's namespace; return exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "helpdesk.cli",
        "register-search-attributes",
        "--address",
        client.service_client.config.target_host,
        "--namespace",
        client.namespace,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(os.environ),
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def registered(client: Client) -> dict[str, int]:
    """Return the custom search attributes of the client's namespace, waiting
    until the frontend has loaded the new namespace."""
    for _ in range(100):
        try:
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=client.namespace)
            )
        except Exception:  # noqa: BLE001 - the namespace is not known yet
            await asyncio.sleep(0.2)
            continue
        return dict(listed.custom_attributes)
    raise AssertionError(f"namespace {client.namespace} never became available")


async def test_register_adds_every_ticket_attribute(
    dev_env: WorkflowEnvironment,
) -> None:
    bare = await bare_namespace(dev_env.client)
    assert not set(NAMES) & set(await registered(bare))

    code, output = await register(bare)

    assert code == 0, output
    for name in NAMES:
        assert f"registered {name} (Keyword) in namespace '{bare.namespace}'" in output
    attributes = await registered(bare)
    assert {name: attributes.get(name) for name in NAMES} == dict.fromkeys(
        NAMES, KEYWORD
    )


async def test_register_again_changes_nothing(dev_env: WorkflowEnvironment) -> None:
    bare = await bare_namespace(dev_env.client)
    await registered(bare)
    first, output = await register(bare)
    assert first == 0, output

    code, output = await register(bare)

    assert code == 0, output
    assert "all ticket search attributes are registered" in output
    assert "registered Ticket" not in output


async def test_register_rejects_attribute_of_other_type(
    dev_env: WorkflowEnvironment,
) -> None:
    bare = await bare_namespace(dev_env.client)
    await registered(bare)
    await bare.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=bare.namespace,
            search_attributes={"TicketStage": IndexedValueType.INDEXED_VALUE_TYPE_TEXT},
        )
    )

    code, output = await register(bare)

    assert code == 1, output
    assert "TicketStage (INDEXED_VALUE_TYPE_TEXT)" in output
    assert "needs Keyword" in output


async def test_registered_namespace_accepts_tickets(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    bare = await bare_namespace(dev_env.client)
    await registered(bare)
    code, output = await register(bare)
    assert code == 0, output
    settings = stack_settings(tmp_path, f"tq-{uuid.uuid4().hex[:12]}", bare)

    async with running_api(bare, settings) as api:
        response = await api.http.post(
            "/v1/tickets",
            json={
                "title": "Lobby returns 502",
                "channel": "monitoring",
                "reporter": {"kind": "monitoring"},
            },
        )

    assert response.status_code == 201, response.text
    handle = bare.get_workflow_handle(f"ticket-{response.json()['id']}")
    await handle.terminate()
