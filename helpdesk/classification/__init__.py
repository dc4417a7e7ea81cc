"""Ticket classification: type, category and priority, with reasons.

`classify` keeps the values the reporter gave and decides only the missing
ones. The rules come from `helpdesk/config/classification.yaml` unless a
process calls `use_rules` with another file at start.
"""

from __future__ import annotations

import threading
from pathlib import Path

from helpdesk.classification.classifier import Classifier
from helpdesk.classification.rules import ClassificationRules, load_rules, parse_rules
from helpdesk.domain import Classification, TicketIntake

__all__ = [
    "ClassificationRules",
    "Classifier",
    "classify",
    "get_classifier",
    "load_rules",
    "parse_rules",
    "preload",
    "use_rules",
]

_lock = threading.Lock()
_classifier: Classifier | None = None


def use_rules(path: str | Path | None) -> Classifier:
    """Load a rules file (the built-in one for None) and use it from now on.

    Raises ConfigFileError naming the line of each problem, so a worker that
    calls this at start refuses to run with a broken file.
    """
    global _classifier
    classifier = Classifier(load_rules(path))
    with _lock:
        _classifier = classifier
    return classifier


def get_classifier() -> Classifier:
    """Return the process's classifier, loading the built-in rules on first use."""
    global _classifier
    with _lock:
        if _classifier is None:
            _classifier = Classifier(load_rules())
        return _classifier


def preload() -> None:
    """Load the rules and the language models now, not on the first ticket."""
    get_classifier().preload()


def classify(intake: TicketIntake) -> Classification:
    """Classify a ticket, keeping the type, category and priority it came with."""
    return get_classifier().classify(intake)
