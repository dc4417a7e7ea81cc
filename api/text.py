"""Helpers for the text of API messages."""

from __future__ import annotations

# How much of a client's value an error message repeats.
ECHO_LIMIT = 40


def shorten(value: str, limit: int = ECHO_LIMIT) -> str:
    """Return `value` cut to `limit` characters, marked with "..." when cut."""
    return value if len(value) <= limit else value[:limit] + "..."
