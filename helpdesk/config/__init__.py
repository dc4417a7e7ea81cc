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


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    def __init__(self, key: Any, first: yaml.Mark, second: yaml.Mark) -> None:
        super().__init__(
            "while constructing a mapping", first, f"duplicate key {key!r}", second
        )
        self.key = key


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a mapping with the same key twice.

    PyYAML keeps the last value of a repeated key, so a second `P1:` entry
    would silently replace the first. Keys brought in by a merge (`<<:`)
    may still be overridden, as YAML intends.
    """

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Any, Any]:
        seen: dict[tuple[type, Any], yaml.Node] = {}
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                # The type is part of the identity so that 1 and true differ.
                identity = (type(key), key)
                first = seen.setdefault(identity, key_node)
            except TypeError:
                # An unhashable key: the base class rejects it with its own
                # message.
                continue
            if first is not key_node:
                raise _DuplicateKeyError(key, first.start_mark, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


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


def _load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """Return the node tree of one YAML document and the data built from it."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def parse_yaml_model(
    text: str, model: type[ModelT], *, source: str, what: str
) -> ModelT:
    """Parse YAML text into `model`; raise ConfigFileError naming each bad line.

    `what` names the file in messages, such as "routing file".
    """
    try:
        node, data = _load_yaml(text)
    except _DuplicateKeyError as exc:
        first = exc.context_mark.line + 1 if exc.context_mark else 0
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ConfigFileError(
            f"{source}:{line}: duplicate key {exc.key!r} in the {what} "
            f"(first at line {first}); keep one of them"
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 0
        raise ConfigFileError(
            f"{source}:{line}: invalid YAML in the {what}: {exc.problem}. "
            "Fix the syntax and load the file again."
        ) from exc
    except yaml.reader.ReaderError as exc:
        # Raised before parsing, for characters that YAML does not allow.
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigFileError(
            f"{source}:{line}: the {what} contains the character "
            f"U+{exc.character:04X}, which YAML does not allow; remove it"
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
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigFileError(f"cannot read the {what} {file}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigFileError(
            f"{file}:{line}: the {what} is not valid UTF-8 "
            f"(byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from exc
    return parse_yaml_model(text, model, source=str(file), what=what)
