"""Load an SLA policy from YAML, reporting the line of each problem."""

from __future__ import annotations

from pathlib import Path

from helpdesk.config import ConfigFileError, load_yaml_model, parse_yaml_model
from helpdesk.sla import SlaPolicy

WHAT = "SLA policy"


class PolicyFileError(ConfigFileError):
    """An SLA policy file that cannot be used; the message names the line."""


def parse_policy(text: str, source: str = "<policy>") -> SlaPolicy:
    """Parse and validate policy YAML; raise PolicyFileError naming the line."""
    try:
        return parse_yaml_model(text, SlaPolicy, source=source, what=WHAT)
    except ConfigFileError as exc:
        raise PolicyFileError(str(exc)) from exc


def load_policy(path: str | Path) -> SlaPolicy:
    """Read and validate an SLA policy file."""
    try:
        return load_yaml_model(path, SlaPolicy, what=WHAT)
    except ConfigFileError as exc:
        raise PolicyFileError(str(exc)) from exc
