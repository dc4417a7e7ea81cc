"""The specialist roster file (roster.yaml) seeded into the database."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from helpdesk.config import builtin_path, load_yaml_model, parse_yaml_model
from helpdesk.domain import SpecialistModel

ROSTER_FILE = "roster.yaml"


class Roster(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    specialists: list[SpecialistModel]

    @field_validator("specialists")
    @classmethod
    def _unique_ids(cls, value: list[SpecialistModel]) -> list[SpecialistModel]:
        seen: set[str] = set()
        for specialist in value:
            if specialist.id in seen:
                raise ValueError(f"specialist id {specialist.id!r} appears twice")
            seen.add(specialist.id)
        return value


def parse_roster(text: str, source: str = "<roster>") -> Roster:
    return parse_yaml_model(text, Roster, source=source, what="roster file")


def load_roster(path: str | Path | None = None) -> Roster:
    """Read and validate a roster file; the built-in one when `path` is None."""
    return load_yaml_model(
        path or builtin_path(ROSTER_FILE), Roster, what="roster file"
    )
