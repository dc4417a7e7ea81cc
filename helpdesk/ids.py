"""Ticket ids that are short, unique and easy to read aloud on a call."""

from __future__ import annotations

import re
import secrets

# Crockford's base 32 without the letters people confuse when spoken or
# written down (I, L, O, U), so `HD-4F7K2Q` never has to be spelt out.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "HD-"
LENGTH = 6
TICKET_ID_PATTERN = re.compile(rf"^{PREFIX}[{ALPHABET}]{{{LENGTH}}}$")


def new_ticket_id() -> str:
    """Return a random ticket id such as `HD-4F7K2Q` (about 10**9 values)."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def is_ticket_id(value: str) -> bool:
    return bool(TICKET_ID_PATTERN.match(value))
