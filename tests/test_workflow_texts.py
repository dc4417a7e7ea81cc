from datetime import UTC, datetime

from helpdesk.domain import Channel, Reporter, ReporterKind, TicketIntake
from helpdesk.sla import DEFAULT_POLICY
from workflows.state import new_state
from workflows.texts import status_markdown

INTAKE = TicketIntake(
    title="Card deposits fail for player-1042",
    description="Every card deposit is declined.",
    channel=Channel.CHAT,
    reporter=Reporter(
        kind=ReporterKind.PLAYER, name="Jan Kowalski", contact="jan@example.com"
    ),
    type="payment_issue",
    category="payment",
    priority="P2",
)


def test_status_names_type_category_and_priority() -> None:
    state = new_state(INTAKE, DEFAULT_POLICY, datetime(2026, 12, 4, tzinfo=UTC))

    status = status_markdown("HD-4F7K2Q", state)

    assert "P2 payment_issue (payment)" in status
    assert "first response (cycle 1): due 2026-12-04 00:30:00Z" in status


def test_status_leaves_out_personal_data() -> None:
    state = new_state(INTAKE, DEFAULT_POLICY, datetime(2026, 12, 4, tzinfo=UTC))

    status = status_markdown("HD-4F7K2Q", state)

    assert "player-1042" not in status
    assert "Kowalski" not in status
    assert "jan@example.com" not in status
