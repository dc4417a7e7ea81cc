"""Built-in configuration files and a loader that reports errors by line.

`routing.yaml` and `roster.yaml` ship inside the package; support leads can
point the settings at their own copies.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigFileError(ValueError):
    """A configuration file that cannot be used; the message names the line."""


def builtin_path(name: str) -> Path:
    """Return the path of a configuration file shipped in this package."""
    return Path(str(resources.files(__name__).joinpath(name)))


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


def parse_yaml_model(
    text: str, model: type[ModelT], *, source: str, what: str
) -> ModelT:
    """Parse YAML text into `model`; raise ConfigFileError naming each bad line.

    `what` names the file in messages, such as "routing file".
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 0
        raise ConfigFileError(
            f"{source}:{line}: invalid YAML in the {what}: {exc.problem}. "
            "Fix the syntax and restart."
        ) from exc
    if node is None or not isinstance(data, dict):
        raise ConfigFileError(f"{source}:1: the {what} must be a YAML mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            field = ".".join(str(part) for part in loc) or "(top level)"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{source}:{_line_of(node, loc)}: {field}: {message}")
        raise ConfigFileError(f"invalid {what}\n  " + "\n  ".join(problems)) from exc


def load_yaml_model(path: str | Path, model: type[ModelT], *, what: str) -> ModelT:
    """Read a YAML file into `model`; raise ConfigFileError on any problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"cannot read the {what} {file}: {exc.strerror}") from exc
    return parse_yaml_model(text, model, source=str(file), what=what)
