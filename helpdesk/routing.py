"""Routing of ticket categories to specialist roles, read from routing.yaml."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from helpdesk.config import builtin_path, load_yaml_model, parse_yaml_model
from helpdesk.domain import Category, Role

ROUTING_FILE = "routing.yaml"


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    also_notify: list[Role] = Field(default_factory=list)

    @field_validator("also_notify")
    @classmethod
    def _distinct(cls, value: list[Role]) -> list[Role]:
        if len(set(value)) != len(value):
            raise ValueError("also_notify lists a role twice")
        return value


class Routing(BaseModel):
    """The role for every category; every category must have a route."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: dict[Category, Route]

    @field_validator("routes")
    @classmethod
    def _every_category(cls, value: dict[Category, Route]) -> dict[Category, Route]:
        missing = [category.value for category in Category if category not in value]
        if missing:
            raise ValueError(
                f"no route for {', '.join(missing)}: give every category a role"
            )
        return value

    def route(self, category: Category) -> Route:
        return self.routes[category]


def parse_routing(text: str, source: str = "<routing>") -> Routing:
    return parse_yaml_model(text, Routing, source=source, what="routing file")


def load_routing(path: str | Path | None = None) -> Routing:
    """Read and validate a routing file; the built-in one when `path` is None."""
    return load_yaml_model(
        path or builtin_path(ROUTING_FILE), Routing, what="routing file"
    )
