"""Unlabeled tickets through the API: classified, routed and given the SLA
of the priority the classifier chose, with the reasons on the ticket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fixtures.helpdesk_stack import ApiStack, api_with_worker
from temporalio.testing import WorkflowEnvironment

from helpdesk.domain import Priority
from helpdesk.sla import DEFAULT_POLICY

pytestmark = pytest.mark.asyncio(loop_scope="session")

# (intake without type, category or priority; expected category; role it
# routes to; priorities a support lead would accept)
CASES: list[tuple[dict[str, Any], str, str, set[str]]] = [
    (
        {
            "title": "Lobby down for all players, login returns HTTP 503",
            "description": (
                "Since 02:10 UTC every login attempt fails with 503 Service "
                "Unavailable. The whole platform is down for all players, "
                "health checks on the gateway are red.\n"
                "upstream connect error or disconnect/reset before headers"
            ),
            "channel": "monitoring",
            "reporter": {"kind": "monitoring"},
        },
        "infrastructure",
        "devops_engineer",
        {"P1"},
    ),
    (
        {
            "title": "Не пришёл депозит",
            "description": (
                "Пополнил счёт картой на 5000 рублей час назад, деньги "
                "списались, а баланс в казино не изменился. Помогите!"
            ),
            "channel": "chat",
            "reporter": {"kind": "player"},
            "attributes": {"player_id": "player-1042"},
        },
        "payment",
        "backend_developer",
        {"P2", "P3"},
    ),
    (
        {
            "title": "Errores en el callback de la API de apuestas",
            "description": (
                "Nuestro endpoint /wallet/callback recibe firmas inválidas "
                "desde ayer; las respuestas son 401 Unauthorized y las "
                "apuestas de la marca quedan sin liquidar."
            ),
            "channel": "email",
            "reporter": {"kind": "provider"},
        },
        "api_integration",
        "integration_engineer",
        {"P2", "P3"},
    ),
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiStack]:
    async with api_with_worker(dev_env.client, tmp_path_factory.mktemp("cls")) as s:
        yield s


async def wait_until_assigned(
    http: httpx.AsyncClient, ticket_id: str
) -> dict[str, Any]:
    for _ in range(200):
        response = await http.get(f"/v1/tickets/{ticket_id}")
        assert response.status_code == 200, response.text
        ticket: dict[str, Any] = response.json()
        if ticket["stage"] == "assigned":
            return ticket
        await asyncio.sleep(0.1)
    raise AssertionError(f"{ticket_id} was never assigned: {ticket}")


def seconds_between(later: str, earlier: str) -> float:
    delta = datetime.fromisoformat(later) - datetime.fromisoformat(earlier)
    return delta.total_seconds()


@pytest.mark.parametrize(("body", "category", "role", "priorities"), CASES)
async def test_unlabeled_ticket_classified_routed_and_timed(
    api: ApiStack,
    body: dict[str, Any],
    category: str,
    role: str,
    priorities: set[str],
) -> None:
    created = await api.http.post("/v1/tickets", json=body)
    assert created.status_code == 201, created.text

    ticket = await wait_until_assigned(api.http, created.json()["id"])

    assert ticket["category"] == category
    assert ticket["priority"] in priorities
    assert ticket["assignee"] is not None
    assert ticket["assignee"]["role"] == role
    classification = ticket["classification"]
    assert classification["source"] == "classifier"
    assert classification["reasons"], "the decision must say why"
    assert 0.0 < classification["confidence"] <= 1.0

    targets = DEFAULT_POLICY.targets(Priority(ticket["priority"]))
    sla = ticket["sla"]
    first_response = seconds_between(sla["first_response_due"], ticket["created_at"])
    resolution = seconds_between(sla["resolution_due"], ticket["created_at"])
    assert first_response == pytest.approx(targets.first_response.total_seconds())
    assert resolution == pytest.approx(targets.resolution.total_seconds())


async def test_classified_event_records_reasons(api: ApiStack) -> None:
    body, *_ = CASES[0]
    created = await api.http.post("/v1/tickets", json=body)
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    await wait_until_assigned(api.http, ticket_id)

    history = await api.http.get(f"/v1/tickets/{ticket_id}/history")

    assert history.status_code == 200, history.text
    classified = [e for e in history.json()["items"] if e["kind"] == "classified"]
    assert len(classified) == 1
    details = classified[0]["details"]
    assert details["priority"] == "P1"
    assert details["reasons"]
    assert details["confidence"] > 0.5
    assert details["needs_triage"] is False


async def test_vague_ticket_flagged_for_triage(api: ApiStack) -> None:
    body = {"title": "help", "channel": "chat", "reporter": {"kind": "player"}}
    created = await api.http.post("/v1/tickets", json=body)
    assert created.status_code == 201, created.text

    ticket = await wait_until_assigned(api.http, created.json()["id"])

    assert ticket["classification"]["needs_triage"] is True
    assert ticket["priority"] in {"P3", "P4"}
    assert ticket["assignee"]["role"] == "support_engineer"


async def test_reclassify_reroutes_and_retargets(api: ApiStack) -> None:
    body, *_ = CASES[1]
    created = await api.http.post("/v1/tickets", json=body)
    assert created.status_code == 201, created.text
    ticket = await wait_until_assigned(api.http, created.json()["id"])

    response = await api.http.post(
        f"/v1/tickets/{ticket['id']}/actions",
        json={
            "action": "reclassify",
            "actor": "lead-anna",
            "category": "infrastructure",
            "priority": "P1",
            "note": "the card processor is down for everyone",
        },
    )

    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["category"] == "infrastructure"
    assert updated["priority"] == "P1"
    assert updated["assignee"]["role"] == "devops_engineer"
    p1 = DEFAULT_POLICY.targets(Priority.P1)
    first_response = seconds_between(
        updated["sla"]["first_response_due"], updated["created_at"]
    )
    assert first_response == pytest.approx(p1.first_response.total_seconds())
