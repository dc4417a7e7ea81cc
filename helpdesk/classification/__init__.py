"""Ticket classification: type, category and priority with reasons.

`classify` keeps the values the reporter gave and decides only the missing
ones.
"""

from __future__ import annotations

from helpdesk.domain import Category, Classification, Priority, TicketIntake, TicketType

__all__ = ["classify"]


def classify(intake: TicketIntake) -> Classification:
    """Classify a ticket, keeping the type, category and priority it came with."""
    # NOTE: placeholder that only keeps reporter values and falls back to the
    # safe default; the rule-based classifier replaces it.
    given = [intake.type, intake.category, intake.priority]
    return Classification(
        type=intake.type or TicketType.SERVICE_REQUEST,
        category=intake.category or Category.USER_SYSTEM,
        priority=intake.priority or Priority.P3,
        confidence=1.0 if all(given) else 0.2,
        reasons=[],
        needs_triage=not all(given),
        source="reporter" if all(given) else "classifier",
    )
