"""Specialists, probes, error shape and OpenAPI of the API, with a real worker
on the dev server and a real SQLite file."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from fixtures.helpdesk_stack import (
    ApiStack,
    api_with_worker,
    running_api,
)
from temporalio.testing import WorkflowEnvironment

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiStack]:
    data_dir = tmp_path_factory.mktemp("specialists")
    async with api_with_worker(dev_env.client, data_dir) as stack:
        yield stack


SPECIALIST = {
    "name": "Nia Ops",
    "roles": ["devops_engineer"],
    "skills": ["infrastructure"],
    "on_shift": True,
    "max_open_tickets": 5,
}


async def test_put_creates_then_updates_specialist(api: ApiStack) -> None:
    specialist_id = f"nia.{uuid.uuid4().hex[:6]}"

    created = await api.http.put(f"/v1/specialists/{specialist_id}", json=SPECIALIST)
    updated = await api.http.put(
        f"/v1/specialists/{specialist_id}", json={**SPECIALIST, "on_shift": False}
    )

    assert created.status_code == 201, created.text
    assert updated.status_code == 200, updated.text
    assert updated.json()["on_shift"] is False
    listed = (await api.http.get("/v1/specialists")).json()["items"]
    stored = [item for item in listed if item["id"] == specialist_id]
    assert stored == [
        {**SPECIALIST, "id": specialist_id, "on_shift": False, "contact": None}
    ]


async def stored_specialist(api: ApiStack, specialist_id: str) -> dict[str, object]:
    listed = (await api.http.get("/v1/specialists")).json()["items"]
    [stored] = [item for item in listed if item["id"] == specialist_id]
    return dict(stored)


async def test_patch_changes_only_given_fields(api: ApiStack) -> None:
    specialist_id = f"nia.{uuid.uuid4().hex[:6]}"
    full = {**SPECIALIST, "contact": "nia@example.invalid", "max_open_tickets": 3}
    created = await api.http.put(f"/v1/specialists/{specialist_id}", json=full)
    assert created.status_code == 201, created.text

    response = await api.http.patch(
        f"/v1/specialists/{specialist_id}", json={"on_shift": False}
    )

    assert response.status_code == 200, response.text
    expected = {**full, "id": specialist_id, "on_shift": False}
    assert response.json() == expected
    assert await stored_specialist(api, specialist_id) == expected


async def test_patch_null_contact_removes_it(api: ApiStack) -> None:
    specialist_id = f"nia.{uuid.uuid4().hex[:6]}"
    full = {**SPECIALIST, "contact": "nia@example.invalid"}
    await api.http.put(f"/v1/specialists/{specialist_id}", json=full)

    response = await api.http.patch(
        f"/v1/specialists/{specialist_id}", json={"contact": None}
    )

    assert response.status_code == 200, response.text
    assert (await stored_specialist(api, specialist_id))["contact"] is None


async def test_patch_unknown_specialist_is_404(api: ApiStack) -> None:
    response = await api.http.patch(
        "/v1/specialists/nobody.here", json={"on_shift": False}
    )

    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["field"] == "specialist_id"
    assert "PUT /v1/specialists/nobody.here" in error["message"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, None, "give at least one field to change"),
        ({"name": None}, "name", "cannot be null"),
        ({"roles": []}, "roles", "at least 1 item"),
        ({"on_shift": "maybe"}, "on_shift", "valid boolean"),
        ({"on_shift": "yes"}, "on_shift", "valid boolean"),
        ({"name": "   "}, "name", "empty"),
        ({"max_open_tickets": 0}, "max_open_tickets", "greater than or equal to 1"),
        ({"team": "ops"}, "team", "unknown field"),
    ],
)
async def test_patch_rejects_invalid_change(
    api: ApiStack, body: dict[str, object], field: str | None, message: str
) -> None:
    specialist_id = f"nia.{uuid.uuid4().hex[:6]}"
    await api.http.put(f"/v1/specialists/{specialist_id}", json=SPECIALIST)

    response = await api.http.patch(f"/v1/specialists/{specialist_id}", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert message in error["message"]
    assert await stored_specialist(api, specialist_id) == {
        **SPECIALIST,
        "id": specialist_id,
        "contact": None,
    }


async def test_roster_is_seeded(api: ApiStack) -> None:
    response = await api.http.get("/v1/specialists")

    assert response.status_code == 200
    assert len(response.json()["items"]) > 0


@pytest.mark.parametrize(
    ("specialist_id", "body", "field"),
    [
        ("nia", {**SPECIALIST, "roles": []}, "roles"),
        ("nia", {**SPECIALIST, "roles": ["wizard"]}, "roles.0"),
        ("nia", {**SPECIALIST, "max_open_tickets": 0}, "max_open_tickets"),
        ("nia", {**SPECIALIST, "on_shift": "yes"}, "on_shift"),
        ("nia", {**SPECIALIST, "name": "Nia\u0000"}, "name"),
        ("nia", {k: v for k, v in SPECIALIST.items() if k != "name"}, "name"),
        ("Nia Ops", SPECIALIST, "specialist_id"),
    ],
)
async def test_put_rejects_invalid_specialist(
    api: ApiStack, specialist_id: str, body: dict[str, object], field: str
) -> None:
    response = await api.http.put(f"/v1/specialists/{specialist_id}", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_healthz_is_ok(api: ApiStack) -> None:
    response = await api.http.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_is_ok_with_worker(api: ApiStack) -> None:
    response = await api.http.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {
        "temporal": "ok",
        "database": "ok",
        "worker": "ok",
    }


async def test_readyz_names_missing_worker(
    api: ApiStack, dev_env: WorkflowEnvironment
) -> None:
    settings = api.settings.model_copy(
        update={"task_queue": f"idle-{uuid.uuid4().hex}"}
    )
    async with running_api(dev_env.client, settings) as idle:
        response = await idle.http.get("/readyz")

    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert checks["temporal"] == "ok"
    assert checks["database"] == "ok"
    assert "no worker polls task queue" in checks["worker"]
    assert response.headers["retry-after"] == "5"


async def test_unknown_route_uses_error_shape(api: ApiStack) -> None:
    response = await api.http.get("/v1/nothing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_openapi_declares_errors(api: ApiStack) -> None:
    schema = (await api.http.get("/openapi.json")).json()

    actions = schema["paths"]["/v1/tickets/{ticket_id}/actions"]["post"]["responses"]
    assert {"200", "404", "409", "422", "503"} <= set(actions)
    intake = schema["paths"]["/v1/tickets"]["post"]["responses"]
    assert {"200", "201", "413", "422", "503"} <= set(intake)
    assert "ErrorResponse" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in str(schema["paths"])


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_loads_assets_from_app(api: ApiStack, page: str) -> None:
    """The docs pages work offline: every script and style comes from the API."""
    response = await api.http.get(page)

    assert response.status_code == 200, response.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert assets, response.text
    assert [url for url in assets if "://" in url or url.startswith("//")] == []
    for url in assets:
        asset = await api.http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    scripts = [url for url in assets if url.endswith(".js")]
    assert scripts, assets
