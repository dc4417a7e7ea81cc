"""Labelled tickets: JSONL lines in the intake shape with an `expected` object.

The same format serves the eval command (`helpdesk classify --eval FILE`)
and the examples the text model learns from (`helpdesk/config/examples/`).
`expected` contains some or all of `type`, `category` and `priority`.
Missing optional intake fields get their defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from helpdesk.domain import Category, Priority, TicketIntake, TicketType

FIELDS = ("type", "category", "priority")
LABELS: dict[str, list[str]] = {
    "type": [t.value for t in TicketType],
    "category": [c.value for c in Category],
    "priority": [p.value for p in Priority],
}
_INTAKE_FIELDS = set(TicketIntake.model_fields)


@dataclass(frozen=True)
class LabelledTicket:
    line: int
    ref: str
    intake: TicketIntake
    expected: dict[str, str]


def parse_labelled(text: str) -> tuple[str, TicketIntake, dict[str, str]]:
    """Return (reference, intake, expected labels); raise ValueError if unusable."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")

    expected = data.get("expected")
    if not isinstance(expected, dict):
        raise ValueError("missing 'expected' object with type, category or priority")
    labels = {name: expected[name] for name in FIELDS if name in expected}
    if not labels:
        raise ValueError("'expected' has none of type, category, priority")
    for name, value in labels.items():
        if value not in LABELS[name]:
            raise ValueError(
                f"expected {name} {value!r} is not one of {', '.join(LABELS[name])}"
            )

    fields = {key: value for key, value in data.items() if key in _INTAKE_FIELDS}
    fields.setdefault("channel", "email")
    fields.setdefault("reporter", {"kind": "player"})
    if isinstance(fields.get("title"), str) and len(fields["title"]) > 200:
        fields["title"] = fields["title"][:200]

    try:
        intake = TicketIntake.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ValueError(f"invalid intake: {problems}") from exc
    ref = str(data.get("external_ref") or "")
    return ref, intake, labels


def read_labelled(path: Path) -> tuple[list[LabelledTicket], list[str]]:
    """Read a labelled JSONL file: the tickets, and one message per bad line.

    Raises OSError when the file cannot be read and UnicodeDecodeError when
    it is not UTF-8.
    """
    tickets: list[LabelledTicket] = []
    problems: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                ref, intake, expected = parse_labelled(text)
            except ValueError as exc:
                problems.append(f"{path}:{number}: {exc}")
                continue
            tickets.append(
                LabelledTicket(number, ref or f"line {number}", intake, expected)
            )
    return tickets, problems
