"""The `classify_ticket` activity."""

from __future__ import annotations

import asyncio

from temporalio import activity

from helpdesk.classification import classify
from helpdesk.contracts import CLASSIFY_TICKET, ClassifyInput
from helpdesk.domain import Classification


@activity.defn(name=CLASSIFY_TICKET)
async def classify_ticket(input: ClassifyInput) -> Classification:
    """Classify a ticket, keeping the values its reporter gave.

    The classifier is CPU work (language detection, matching), so it runs in
    a thread and leaves the worker's event loop free.
    """
    return await asyncio.to_thread(classify, input.intake)
