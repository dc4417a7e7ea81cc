"""Search attribute values of a ticket workflow.

The API sets them when it starts a ticket (`initial_search_attributes`) and
the workflow upserts the changed ones after every step
(`search_attribute_values`). Values are ids and enum values only, because
Temporal stores search attributes unencrypted.
"""

from __future__ import annotations

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from helpdesk import search_attributes as keys
from helpdesk.domain import SlaState, Stage, TicketIntake
from workflows.state import TicketState, sla_state

UNASSIGNED = "unassigned"


def initial_search_attributes(intake: TicketIntake) -> TypedSearchAttributes:
    """Return the search attributes to start a ticket workflow with.

    Type, category and priority are set only when the reporter gave them;
    the workflow adds them once the classifier has run.
    """
    pairs: list[SearchAttributePair[str]] = [
        SearchAttributePair(keys.TICKET_STAGE, Stage.REGISTERED.value),
        SearchAttributePair(keys.TICKET_ASSIGNEE, UNASSIGNED),
        SearchAttributePair(keys.TICKET_SLA_STATE, SlaState.ON_TRACK.value),
    ]
    if intake.type is not None:
        pairs.append(SearchAttributePair(keys.TICKET_TYPE, intake.type.value))
    if intake.category is not None:
        pairs.append(SearchAttributePair(keys.TICKET_CATEGORY, intake.category.value))
    if intake.priority is not None:
        pairs.append(SearchAttributePair(keys.TICKET_PRIORITY, intake.priority.value))
    return TypedSearchAttributes(pairs)


def search_attribute_values(state: TicketState) -> dict[SearchAttributeKey[str], str]:
    """Return the value every ticket search attribute should have now."""
    return {
        keys.TICKET_TYPE: state.type.value,
        keys.TICKET_CATEGORY: state.category.value,
        keys.TICKET_PRIORITY: state.priority.value,
        keys.TICKET_STAGE: state.stage.value,
        keys.TICKET_ASSIGNEE: state.assignee.id if state.assignee else UNASSIGNED,
        keys.TICKET_SLA_STATE: sla_state(state).value,
    }


def changed_search_attributes(
    current: TypedSearchAttributes, state: TicketState
) -> list[SearchAttributeUpdate[str]]:
    """Return the pairs whose value differs from `current`, for an upsert."""
    return [
        key.value_set(value)
        for key, value in search_attribute_values(state).items()
        if current.get(key) != value
    ]
