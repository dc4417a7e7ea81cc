"""The ticket API over ASGI, with a real worker on the dev server and a real
SQLite file: intake, deduplication, reads, actions and every error status."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fixtures.helpdesk_stack import (
    ApiStack,
    api_with_worker,
    bare_namespace,
    free_port,
    running_api,
)
from temporalio.testing import WorkflowEnvironment

from api.app import connect_temporal
from helpdesk import search_attributes
from helpdesk.db.repository import claim_external_ref

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiStack]:
    data_dir = tmp_path_factory.mktemp("api")
    async with api_with_worker(dev_env.client, data_dir) as stack:
        await raise_roster_capacity(stack.http)
        yield stack


async def raise_roster_capacity(http: httpx.AsyncClient) -> None:
    """Let every specialist hold many tickets: the module opens more tickets
    than the built-in roster can take, and a full roster queues new ones."""
    roster = (await http.get("/v1/specialists")).json()["items"]
    for specialist in roster:
        response = await http.patch(
            f"/v1/specialists/{specialist['id']}", json={"max_open_tickets": 1000}
        )
        assert response.status_code == 200, response.text


def intake(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Lobby returns 502 for all players in EU",
        "description": "Since 14:02 UTC the lobby API answers 502 to every call.",
        "channel": "monitoring",
        "reporter": {"kind": "monitoring", "name": "alertmanager"},
        "type": "technical_incident",
        "category": "infrastructure",
        "priority": "P2",
    }
    body.update(overrides)
    return body


def new_ref() -> str:
    return f"alert-{uuid.uuid4().hex[:10]}"


async def wait_for_stage(
    http: httpx.AsyncClient, ticket_id: str, stage: str, timeout: float = 20.0
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await http.get(f"/v1/tickets/{ticket_id}")
        assert response.status_code == 200, response.text
        ticket: dict[str, Any] = response.json()
        if ticket["stage"] == stage:
            return ticket
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"{ticket_id} stayed in {ticket['stage']}, not {stage}"
            )
        await asyncio.sleep(0.1)


async def act(http: httpx.AsyncClient, ticket_id: str, **body: Any) -> httpx.Response:
    return await http.post(f"/v1/tickets/{ticket_id}/actions", json=body)


async def history_kinds(http: httpx.AsyncClient, ticket_id: str) -> list[str]:
    response = await http.get(f"/v1/tickets/{ticket_id}/history")
    assert response.status_code == 200, response.text
    return [event["kind"] for event in response.json()["items"]]


async def open_assigned(api: ApiStack, **overrides: Any) -> dict[str, Any]:
    response = await api.http.post("/v1/tickets", json=intake(**overrides))
    assert response.status_code == 201, response.text
    return await wait_for_stage(api.http, response.json()["id"], "assigned")


# Intake


async def test_create_ticket_returns_201_with_state(api: ApiStack) -> None:
    ref = new_ref()
    response = await api.http.post("/v1/tickets", json=intake(external_ref=ref))

    assert response.status_code == 201, response.text
    ticket = response.json()
    assert ticket["id"].startswith("HD-")
    assert response.headers["location"] == f"/v1/tickets/{ticket['id']}"
    assert ticket["external_ref"] == ref
    assert ticket["priority"] == "P2"
    assert ticket["source"] == "registration"
    assert ticket["sla"]["first_response_due"] is not None
    assert ticket["sla"]["first_response"]["remaining_seconds"] > 0


async def test_create_ticket_classifies_missing_fields(api: ApiStack) -> None:
    body = intake()
    for field in ("type", "category", "priority"):
        del body[field]
    response = await api.http.post("/v1/tickets", json=body)
    assert response.status_code == 201, response.text

    ticket = await wait_for_stage(api.http, response.json()["id"], "assigned")

    assert ticket["classification"] is not None
    assert ticket["classification"]["source"] != "reporter"
    assert ticket["priority"] in {"P1", "P2", "P3", "P4"}


async def test_duplicate_ref_returns_existing_ticket(api: ApiStack) -> None:
    ref = new_ref()
    first = await api.http.post("/v1/tickets", json=intake(external_ref=ref))
    assert first.status_code == 201, first.text
    ticket_id = first.json()["id"]

    again = await api.http.post(
        "/v1/tickets", json=intake(external_ref=ref, title="Lobby 502 (retry)")
    )

    assert again.status_code == 200, again.text
    assert again.json()["id"] == ticket_id
    assert "duplicate_reported" in await history_kinds(api.http, ticket_id)


async def test_concurrent_duplicates_open_one_ticket(api: ApiStack) -> None:
    ref = new_ref()
    storm = 8

    responses = await asyncio.gather(
        *(
            api.http.post("/v1/tickets", json=intake(external_ref=ref))
            for _ in range(storm)
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * (storm - 1) + [201], [r.text for r in responses]
    ids = {response.json()["id"] for response in responses}
    assert len(ids) == 1
    kinds = await history_kinds(api.http, ids.pop())
    assert kinds.count("duplicate_reported") == storm - 1


async def test_closed_ticket_frees_its_ref(api: ApiStack) -> None:
    ref = new_ref()
    ticket = await open_assigned(api, external_ref=ref)
    await close_ticket(api.http, ticket)

    reopened = await api.http.post("/v1/tickets", json=intake(external_ref=ref))

    assert reopened.status_code == 201, reopened.text
    assert reopened.json()["id"] != ticket["id"]


async def test_orphan_claim_is_released(api: ApiStack) -> None:
    """A claim whose ticket never started (a crash after the claim) heals."""
    ref = new_ref()
    async with api.state.sessions.begin() as session:
        assert await claim_external_ref(session, ref, "HD-000001") is None

    response = await api.http.post("/v1/tickets", json=intake(external_ref=ref))

    assert response.status_code == 201, response.text
    assert response.json()["id"] != "HD-000001"
    again = await api.http.post("/v1/tickets", json=intake(external_ref=ref))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == response.json()["id"]


async def test_claim_of_terminated_ticket_is_released(
    api: ApiStack, dev_env: WorkflowEnvironment
) -> None:
    ref = new_ref()
    first = await api.http.post("/v1/tickets", json=intake(external_ref=ref))
    old_id = first.json()["id"]
    await dev_env.client.get_workflow_handle(f"ticket-{old_id}").terminate()

    response = await api.http.post("/v1/tickets", json=intake(external_ref=ref))

    assert response.status_code == 201, response.text
    assert response.json()["id"] != old_id


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (intake(title=None), "title", "Input should be a valid string"),
        ({k: v for k, v in intake().items() if k != "title"}, "title", "required"),
        (intake(title=""), "title", "empty"),
        (intake(title="x" * 201), "title", "at most 200 characters"),
        (intake(description="x" * 20_001), "description", "at most 20000"),
        (intake(channel="pigeon"), "channel", "email"),
        (intake(reporter={"name": "x"}), "reporter.kind", "required"),
        (intake(priority="P9"), "priority", "P1"),
        (intake(colour="red"), "colour", "unknown field"),
    ],
)
async def test_create_ticket_rejects_invalid_body(
    api: ApiStack, body: dict[str, Any], field: str, message: str
) -> None:
    response = await api.http.post("/v1/tickets", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["field"] == field
    assert message in error["message"]


async def test_create_ticket_rejects_invalid_json(api: ApiStack) -> None:
    response = await api.http.post(
        "/v1/tickets",
        content=b'{"title": ',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert "invalid JSON" in response.json()["error"]["message"]


JSON_HEADERS = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("content", "headers", "message"),
    [
        (b"", JSON_HEADERS, "request body is missing: send a JSON object"),
        (b"", JSON_HEADERS, "required fields: channel, reporter, title"),
        (
            b'{\n  "title": "x",\n  "channel": ,\n}',
            JSON_HEADERS,
            "invalid JSON at line 3 column 14: Expecting value",
        ),
        (b'{"title": "\xff\xfe"}', JSON_HEADERS, "not valid UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, JSON_HEADERS, "nests arrays or objects"),
        (
            b'{"title": "x"}',
            {"content-type": "text/plain"},
            "the request has text/plain: send a JSON object with the header "
            "Content-Type: application/json",
        ),
        (b"[1, 2]", JSON_HEADERS, "request body must be a JSON object, not an array"),
    ],
)
async def test_unusable_body_is_422_with_reason(
    api: ApiStack, content: bytes, headers: dict[str, str], message: str
) -> None:
    response = await api.http.post("/v1/tickets", content=content, headers=headers)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert message in error["message"]
    assert error["field"] is None
    assert error["problems"] == [{"field": None, "message": error["message"]}]


async def test_missing_action_body_names_required_fields(api: ApiStack) -> None:
    response = await api.http.post("/v1/tickets/HD-000000/actions")

    assert response.status_code == 422, response.text
    assert "required fields: action, actor" in response.json()["error"]["message"]


async def test_body_over_limit_is_413(api: ApiStack) -> None:
    limit = api.settings.max_body_bytes
    body = intake(attributes={"blob": "x" * limit})

    response = await api.http.post("/v1/tickets", json=body)

    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert str(limit) in response.json()["error"]["message"]


async def test_streamed_body_over_limit_is_413(api: ApiStack) -> None:
    limit = api.settings.max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    response = await api.http.post(
        "/v1/tickets", content=chunks(), headers={"content-type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text


async def test_start_without_search_attributes_is_500(
    api: ApiStack, dev_env: WorkflowEnvironment
) -> None:
    """A namespace without the ticket search attributes rejects every start.

    A retry cannot help, so the API returns 500 naming the attribute and the
    command that registers it, not a 503 that clients would retry. The
    rejected intake releases its claim and starts no workflow.
    """
    bare = await bare_namespace(dev_env.client)
    settings = api.settings.model_copy(update={"temporal_namespace": bare.namespace})
    ref = new_ref()

    async with running_api(bare, settings) as failing:
        response = await _post_until_namespace_ready(failing.http, ref)

    assert response.status_code == 500, response.text
    assert "retry-after" not in response.headers
    error = response.json()["error"]
    assert error["code"] == "search_attribute_not_registered"
    assert (
        f"namespace '{bare.namespace}' has no search attribute 'Ticket"
        in (error["message"])
    )
    assert "helpdesk register-search-attributes" in error["message"]
    assert (await bare.count_workflows()).count == 0
    queue = (await api.http.get("/v1/tickets", params={"limit": 200})).json()
    assert ref not in {item["external_ref"] for item in queue["items"]}
    retried = await api.http.post("/v1/tickets", json=intake(external_ref=ref))
    assert retried.status_code == 201, retried.text


async def _post_until_namespace_ready(
    http: httpx.AsyncClient, ref: str, key: str | None = None
) -> httpx.Response:
    """Post once the new namespace is known to the frontend (its cache refreshes)."""
    headers = {"Idempotency-Key": key} if key else {}
    body = intake(external_ref=ref)
    response = await http.post("/v1/tickets", json=body, headers=headers)
    for _ in range(100):
        if "not found" not in response.text.lower():
            break
        await asyncio.sleep(0.2)
        response = await http.post("/v1/tickets", json=body, headers=headers)
    return response


async def post_with_key(
    http: httpx.AsyncClient, key: str, body: dict[str, Any]
) -> httpx.Response:
    return await http.post("/v1/tickets", json=body, headers={"Idempotency-Key": key})


async def test_intake_key_replays_first_ticket(api: ApiStack) -> None:
    key = f"intake-{uuid.uuid4()}"
    body = intake()

    first = await post_with_key(api.http, key, body)
    again = await post_with_key(api.http, key, body)

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


async def test_intake_key_with_other_body_is_422(api: ApiStack) -> None:
    key = f"intake-{uuid.uuid4()}"
    first = await post_with_key(api.http, key, intake())
    assert first.status_code == 201, first.text

    other = await post_with_key(api.http, key, intake(title="Another outage"))

    assert other.status_code == 422, other.text
    error = other.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["field"] == "Idempotency-Key"
    assert "different request body" in error["message"]


async def test_concurrent_intakes_with_one_key_open_one_ticket(api: ApiStack) -> None:
    key = f"intake-{uuid.uuid4()}"
    storm = 8

    responses = await asyncio.gather(
        *(post_with_key(api.http, key, intake()) for _ in range(storm))
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * (storm - 1) + [201], [r.text for r in responses]
    assert len({response.json()["id"] for response in responses}) == 1


async def test_expired_intake_key_opens_new_ticket(api: ApiStack) -> None:
    key = f"intake-{uuid.uuid4()}"
    keys = api.state.tickets.keys
    first = await post_with_key(api.http, key, intake())
    assert first.status_code == 201, first.text

    retention = keys.retention
    keys.retention = timedelta(0)
    try:
        other = await post_with_key(api.http, key, intake(title="Another outage"))
    finally:
        keys.retention = retention

    assert other.status_code == 201, other.text
    assert other.json()["id"] != first.json()["id"]


async def test_failed_intake_releases_key(
    api: ApiStack, dev_env: WorkflowEnvironment
) -> None:
    """An intake that Temporal rejects releases its key, so a retry with the
    same key and body opens the ticket once the cause is fixed."""
    bare = await bare_namespace(dev_env.client)
    settings = api.settings.model_copy(update={"temporal_namespace": bare.namespace})
    key = f"intake-{uuid.uuid4()}"
    ref = new_ref()

    async with running_api(bare, settings) as failing:
        failed = await _post_until_namespace_ready(failing.http, ref, key)
    assert failed.status_code == 500, failed.text

    retried = await post_with_key(api.http, key, intake(external_ref=ref))

    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers


async def test_intake_with_temporal_unreachable_is_503(api: ApiStack) -> None:
    """A client that cannot connect at all gives 503, and the intake leaves
    neither its key nor its external_ref claimed."""
    settings = api.settings.model_copy(
        update={"temporal_address": f"127.0.0.1:{free_port()}"}
    )
    key = f"intake-{uuid.uuid4()}"
    body = intake(external_ref=new_ref())

    async with running_api(await connect_temporal(settings), settings) as down:
        response = await post_with_key(down.http, key, body)

    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert "Temporal cannot be reached" in response.json()["error"]["message"]
    retried = await post_with_key(api.http, key, body)
    assert retried.status_code == 201, retried.text


# Reads


async def test_read_unknown_ticket_is_404(api: ApiStack) -> None:
    response = await api.http.get("/v1/tickets/HD-000000")

    assert response.status_code == 404, response.text
    assert response.json()["error"]["message"] == "ticket HD-000000 not found"


async def test_read_malformed_id_is_404(api: ApiStack) -> None:
    response = await api.http.get("/v1/tickets/not-a-ticket")

    assert response.status_code == 404, response.text
    message = response.json()["error"]["message"]
    assert "HD-4F7K2Q" in message
    assert "except I, L, O and U" in message


async def test_long_malformed_id_is_cut_in_message(api: ApiStack) -> None:
    response = await api.http.get("/v1/tickets/" + "x" * 500)

    assert response.status_code == 404, response.text
    message = response.json()["error"]["message"]
    assert "x" * 40 + "..." in message
    assert "x" * 41 not in message


async def test_history_of_unknown_ticket_is_404(api: ApiStack) -> None:
    response = await api.http.get("/v1/tickets/HD-000000/history")

    assert response.status_code == 404, response.text


async def test_history_lists_events_in_order(api: ApiStack) -> None:
    ticket = await open_assigned(api)

    # The query can show the assignment a moment before the projection
    # activity has stored its event.
    items = await wait_for_history(api.http, ticket["id"], "assigned")

    assert [event["seq"] for event in items] == list(range(1, len(items) + 1))
    assert items[0]["kind"] == "registered"


async def wait_for_history(
    http: httpx.AsyncClient, ticket_id: str, kind: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await http.get(f"/v1/tickets/{ticket_id}/history")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        if kind in [event["kind"] for event in items]:
            return items
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {kind} event in {ticket_id}'s history: {items}")
        await asyncio.sleep(0.1)


async def test_queue_filters_and_pages(api: ApiStack) -> None:
    for _ in range(3):
        await open_assigned(api, priority="P4", category="payment")

    first = await api.http.get(
        "/v1/tickets", params={"priority": "P4", "category": "payment", "limit": 2}
    )
    assert first.status_code == 200, first.text
    page = first.json()
    second = await api.http.get(
        "/v1/tickets",
        params={"priority": "P4", "category": "payment", "cursor": page["next_cursor"]},
    )

    assert len(page["items"]) == 2
    assert page["next_cursor"] is not None
    rest = second.json()["items"]
    assert len(rest) >= 1
    everything = page["items"] + rest
    assert {item["priority"] for item in everything} == {"P4"}
    assert len({item["id"] for item in everything}) == len(everything)
    deadlines = [item["sla"]["first_response_due"] for item in everything]
    assert deadlines == sorted(deadlines)


async def test_queue_filter_matches_any_repeated_value(api: ApiStack) -> None:
    wanted = {
        (await open_assigned(api, priority=priority, category="user_system"))["id"]
        for priority in ("P3", "P4")
    }
    other = (await open_assigned(api, priority="P2", category="user_system"))["id"]
    params = [("priority", "P3"), ("priority", "P4"), ("category", "user_system")]

    items = await wait_for_queue_ids(api.http, params, wanted)

    assert {item["priority"] for item in items} <= {"P3", "P4"}
    assert other not in {item["id"] for item in items}


async def wait_for_queue_ids(
    http: httpx.AsyncClient, params: list[tuple[str, str]], ids: set[str]
) -> list[dict[str, Any]]:
    """Return the filtered queue once it lists `ids` (rows follow the workflow)."""
    deadline = asyncio.get_running_loop().time() + 10.0
    while True:
        response = await http.get("/v1/tickets", params=[*params, ("limit", "200")])
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        if ids <= {item["id"] for item in items}:
            return items
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{ids} not all in the queue: {items}")
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"stage": "nowhere"}, "stage"),
        ([("stage", "assigned"), ("stage", "nowhere")], "stage"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ([("on_hold", "true"), ("on_hold", "false")], "on_hold"),
        ([("limit", "5"), ("limit", "10")], "limit"),
    ],
)
async def test_queue_rejects_bad_parameters(
    api: ApiStack, params: Any, field: str
) -> None:
    response = await api.http.get("/v1/tickets", params=params)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert [problem["field"] for problem in error["problems"]] == [field]


# Actions


async def test_ticket_walks_to_closed(api: ApiStack) -> None:
    ticket = await open_assigned(api)

    closed = await close_ticket(api.http, ticket)

    assert closed["stage"] == "closed"
    kinds = await history_kinds(api.http, ticket["id"])
    assert {"acknowledged", "resolved", "closed"} <= set(kinds)


async def close_ticket(
    http: httpx.AsyncClient, ticket: dict[str, Any]
) -> dict[str, Any]:
    actor = ticket["assignee"]["id"]
    steps: list[dict[str, Any]] = [
        {"action": "acknowledge"},
        {"action": "diagnose", "note": "Disk full on lobby-3."},
        {"action": "submit_fix", "note": "Rotated logs, added alert."},
        {"action": "verify", "passed": True},
        {"action": "close"},
    ]
    state: dict[str, Any] = ticket
    for step in steps:
        response = await act(http, ticket["id"], actor=actor, **step)
        assert response.status_code == 200, (step, response.text)
        state = response.json()
    return state


async def test_closed_ticket_is_read_from_database(api: ApiStack) -> None:
    ticket = await open_assigned(api)
    await close_ticket(api.http, ticket)

    response = await api.http.get(f"/v1/tickets/{ticket['id']}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stage"] == "closed"
    assert body["source"] in {"database", "workflow"}


async def test_action_on_closed_ticket_is_409(api: ApiStack) -> None:
    ticket = await open_assigned(api)
    await close_ticket(api.http, ticket)

    response = await act(api.http, ticket["id"], action="comment", actor="x", note="hi")

    assert response.status_code == 409, response.text
    assert response.json()["error"]["message"] == f"ticket {ticket['id']} is closed"


async def test_illegal_move_is_409_with_reason(api: ApiStack) -> None:
    ticket = await open_assigned(api)

    response = await act(
        api.http, ticket["id"], action="verify", actor="x", passed=True
    )

    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "illegal_transition"
    assert "verify" in error["message"]
    assert "assigned" in error["message"]


async def test_unknown_action_is_422(api: ApiStack) -> None:
    response = await act(api.http, "HD-000000", action="teleport", actor="x")

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "action"
    assert "teleport" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "diagnose", "actor": "x"}, "note"),
        ({"action": "verify", "actor": "x"}, "passed"),
        ({"action": "hold", "actor": "x"}, "reason"),
        ({"action": "hold", "actor": "x", "reason": "lunch"}, "reason"),
        ({"action": "reassign", "actor": "x"}, "assignee"),
        ({"action": "change_priority", "actor": "x"}, "priority"),
        ({"action": "comment", "actor": "x"}, "note"),
        ({"action": "acknowledge"}, "actor"),
        ({"action": "acknowledge", "actor": "x", "passed": True}, "passed"),
        ({"actor": "x"}, "action"),
    ],
)
async def test_missing_action_field_is_422(
    api: ApiStack, body: dict[str, Any], field: str
) -> None:
    response = await api.http.post("/v1/tickets/HD-000000/actions", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_reclassify_without_changes_is_422(api: ApiStack) -> None:
    response = await act(api.http, "HD-000000", action="reclassify", actor="x")

    assert response.status_code == 422, response.text
    assert "at least one" in response.json()["error"]["message"]


async def test_action_on_unknown_ticket_is_404(api: ApiStack) -> None:
    response = await act(api.http, "HD-000000", action="acknowledge", actor="x")

    assert response.status_code == 404, response.text
    assert response.json()["error"]["message"] == "ticket HD-000000 not found"


async def test_reassign_to_unknown_specialist_is_404(api: ApiStack) -> None:
    ticket = await open_assigned(api)

    response = await act(
        api.http, ticket["id"], action="reassign", actor="x", assignee="nobody.here"
    )

    assert response.status_code == 404, response.text
    assert response.json()["error"]["field"] == "assignee"


async def test_reassign_to_malformed_specialist_id_is_422(api: ApiStack) -> None:
    response = await act(
        api.http, "HD-000000", action="reassign", actor="x", assignee="Bad Id!"
    )

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "assignee"
    assert "invalid specialist id 'Bad Id!'" in error["message"]


async def test_idempotency_key_acts_once(api: ApiStack) -> None:
    ticket = await open_assigned(api)
    key = f"comment-{uuid.uuid4()}"
    body = {"action": "comment", "actor": "x", "note": "Looking into it."}

    first = await api.http.post(
        f"/v1/tickets/{ticket['id']}/actions",
        json=body,
        headers={"Idempotency-Key": key},
    )
    second = await api.http.post(
        f"/v1/tickets/{ticket['id']}/actions",
        json=body,
        headers={"Idempotency-Key": key},
    )

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert (await history_kinds(api.http, ticket["id"])).count("comment") == 1


async def act_with_key(
    http: httpx.AsyncClient, ticket_id: str, key: str, **body: Any
) -> httpx.Response:
    return await http.post(
        f"/v1/tickets/{ticket_id}/actions",
        json=body,
        headers={"Idempotency-Key": key},
    )


async def test_action_key_with_other_body_is_422(api: ApiStack) -> None:
    ticket = await open_assigned(api)
    actor = ticket["assignee"]["id"]
    key = f"action-{uuid.uuid4()}"
    comment = await act_with_key(
        api.http, ticket["id"], key, action="comment", actor=actor, note="First."
    )
    assert comment.status_code == 200, comment.text

    hold = await act_with_key(
        api.http,
        ticket["id"],
        key,
        action="hold",
        actor=actor,
        reason="waiting_for_provider",
    )

    assert hold.status_code == 422, hold.text
    assert hold.json()["error"]["code"] == "idempotency_key_reused"
    kinds = await history_kinds(api.http, ticket["id"])
    assert kinds.count("comment") == 1
    assert "hold" not in kinds


async def test_rejected_action_releases_key(api: ApiStack) -> None:
    ticket = await open_assigned(api)
    actor = ticket["assignee"]["id"]
    key = f"action-{uuid.uuid4()}"
    verify = await act_with_key(
        api.http, ticket["id"], key, action="verify", actor=actor, passed=True
    )
    assert verify.status_code == 409, verify.text

    comment = await act_with_key(
        api.http, ticket["id"], key, action="comment", actor=actor, note="Retry."
    )

    assert comment.status_code == 200, comment.text
    history = await wait_for_history(api.http, ticket["id"], "comment")
    assert [event["kind"] for event in history].count("comment") == 1


async def test_action_key_is_scoped_to_ticket(api: ApiStack) -> None:
    first, second = [await open_assigned(api) for _ in range(2)]
    key = f"action-{uuid.uuid4()}"

    for ticket, note in ((first, "On the first."), (second, "On the second.")):
        response = await act_with_key(
            api.http, ticket["id"], key, action="comment", actor="x", note=note
        )
        assert response.status_code == 200, response.text

    for ticket in (first, second):
        history = await wait_for_history(api.http, ticket["id"], "comment")
        assert [event["kind"] for event in history].count("comment") == 1


async def test_hold_pauses_sla(api: ApiStack) -> None:
    ticket = await open_assigned(api)
    actor = ticket["assignee"]["id"]

    response = await act(
        api.http,
        ticket["id"],
        action="hold",
        actor=actor,
        reason="waiting_for_provider",
    )

    assert response.status_code == 200, response.text
    held = response.json()
    assert held["on_hold"] is True
    assert held["hold_reason"] == "waiting_for_provider"
    assert held["sla"]["state"] == "paused"


async def test_action_without_worker_is_503(
    api: ApiStack, dev_env: WorkflowEnvironment
) -> None:
    """A ticket whose task queue has no worker opens, but actions get 503."""
    settings = api.settings.model_copy(
        update={"task_queue": f"idle-{uuid.uuid4().hex}"}
    )
    async with running_api(dev_env.client, settings) as idle:
        service = idle.state.tickets
        service.rpc_timeout = timedelta(seconds=1)

        created = await idle.http.post("/v1/tickets", json=intake())
        assert created.status_code == 201, created.text
        assert created.json()["source"] == "registration"
        ticket_id = created.json()["id"]
        response = await act(idle.http, ticket_id, action="acknowledge", actor="x")

    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert "no worker" in response.json()["error"]["message"]
    await dev_env.client.get_workflow_handle(f"ticket-{ticket_id}").terminate()


# Search attributes


async def test_started_ticket_has_search_attributes(
    api: ApiStack, dev_env: WorkflowEnvironment
) -> None:
    response = await api.http.post("/v1/tickets", json=intake(priority="P3"))
    ticket_id = response.json()["id"]

    description = await dev_env.client.get_workflow_handle(
        f"ticket-{ticket_id}"
    ).describe()

    attributes = description.typed_search_attributes
    assert attributes.get(search_attributes.TICKET_PRIORITY) == "P3"
    assert await description.static_summary() == "P3 technical_incident from monitoring"


@pytest.mark.parametrize(
    ("given", "summary"),
    [
        ({}, "ticket from email (classification pending)"),
        ({"priority": "P1"}, "P1 ticket from email (type pending classification)"),
        (
            {"type": "payment_issue"},
            "payment_issue from email (priority pending classification)",
        ),
        ({"type": "payment_issue", "priority": "P2"}, "P2 payment_issue from email"),
    ],
)
async def test_static_summary_marks_pending_classification(
    api: ApiStack, dev_env: WorkflowEnvironment, given: dict[str, str], summary: str
) -> None:
    body = intake(channel="email", **given)
    for field in ("type", "category", "priority"):
        if field not in given:
            del body[field]
    response = await api.http.post("/v1/tickets", json=body)
    assert response.status_code == 201, response.text

    handle = dev_env.client.get_workflow_handle(f"ticket-{response.json()['id']}")
    description = await handle.describe()

    assert await description.static_summary() == summary


async def test_verify_passed_must_be_boolean(api: ApiStack) -> None:
    response = await act(
        api.http, "HD-000000", action="verify", actor="dev.ada", passed="yes"
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "passed"


@pytest.mark.parametrize(
    ("field", "value"),
    [("note", "cause: a\u0000b"), ("actor", "dev\u0000ada"), ("actor", "   ")],
)
async def test_action_text_rejected_with_422(
    api: ApiStack, field: str, value: str
) -> None:
    body = {"action": "comment", "actor": "dev.ada", "note": "looking"}
    body[field] = value

    response = await act(api.http, "HD-000000", **body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_intake_with_nul_in_title_is_422(api: ApiStack) -> None:
    response = await api.http.post(
        "/v1/tickets", json=intake(title="Cashier\u0000 down", external_ref=new_ref())
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "title"
    assert "NUL" in response.json()["error"]["message"]
