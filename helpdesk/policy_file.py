"""Load an SLA policy from YAML, reporting the line of each problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from helpdesk.sla import SlaPolicy


class PolicyFileError(ValueError):
    """An SLA policy file that cannot be used; the message names the line."""


def _line_of(node: yaml.Node, loc: tuple[int | str, ...]) -> int:
    """Return the 1-based line of the YAML node at a pydantic error location."""
    line = node.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(key):
                    node = value_node
                    line = key_node.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return line
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def parse_policy(text: str, source: str = "<policy>") -> SlaPolicy:
    """Parse and validate policy YAML; raise PolicyFileError naming the line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 0
        raise PolicyFileError(
            f"{source}:{line}: invalid YAML: {exc.problem}. Fix the syntax and restart."
        ) from exc
    if node is None or not isinstance(data, dict):
        raise PolicyFileError(
            f"{source}:1: the policy must be a YAML mapping with at least "
            "'version' and 'priorities'"
        )
    try:
        return SlaPolicy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            field = ".".join(str(part) for part in loc) or "(top level)"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{source}:{_line_of(node, loc)}: {field}: {message}")
        raise PolicyFileError("invalid SLA policy\n  " + "\n  ".join(problems)) from exc


def load_policy(path: str | Path) -> SlaPolicy:
    """Read and validate an SLA policy file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyFileError(
            f"cannot read SLA policy file {file}: {exc.strerror}"
        ) from exc
    return parse_policy(text, source=str(file))
