"""Custom search attributes of ticket workflows, shown and filtered in the Web UI.

Values hold no personal data: Temporal stores them unencrypted.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TICKET_TYPE = SearchAttributeKey.for_keyword("TicketType")
TICKET_CATEGORY = SearchAttributeKey.for_keyword("TicketCategory")
TICKET_PRIORITY = SearchAttributeKey.for_keyword("TicketPriority")
TICKET_STAGE = SearchAttributeKey.for_keyword("TicketStage")
TICKET_ASSIGNEE = SearchAttributeKey.for_keyword("TicketAssignee")
TICKET_SLA_STATE = SearchAttributeKey.for_keyword("TicketSlaState")

ALL_KEYS = (
    TICKET_TYPE,
    TICKET_CATEGORY,
    TICKET_PRIORITY,
    TICKET_STAGE,
    TICKET_ASSIGNEE,
    TICKET_SLA_STATE,
)


def dev_server_flags() -> list[str]:
    """Return the `temporal server start-dev` flags that register every key."""
    flags = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags
