"""Ticket classification: type, category and priority, with reasons.

`classify` keeps the values the reporter gave and decides only the missing
ones. The rules come from `helpdesk/config/classification.yaml` and the
text model learns from the labelled tickets in `helpdesk/config/examples/`,
unless a process calls `use_rules` with other files at start.
"""

from __future__ import annotations

import threading
from pathlib import Path

from helpdesk.classification.classifier import Classifier
from helpdesk.classification.model import default_cache_dir
from helpdesk.classification.rules import ClassificationRules, load_rules, parse_rules
from helpdesk.config import builtin_path
from helpdesk.domain import Classification, TicketIntake

__all__ = [
    "EXAMPLES_DIR",
    "ClassificationRules",
    "Classifier",
    "classify",
    "example_sources",
    "get_classifier",
    "load_rules",
    "parse_rules",
    "preload",
    "use_rules",
]

# The labelled tickets the text model learns from, shipped with the package.
EXAMPLES_DIR = builtin_path("examples")

_lock = threading.Lock()
_classifier: Classifier | None = None


def example_sources(examples: str | Path | None = None) -> list[Path]:
    """Return the example folders and files the text model learns from: the
    built-in examples, and a lead's own file or folder when one is given."""
    return [EXAMPLES_DIR, *([Path(examples)] if examples is not None else [])]


def use_rules(
    path: str | Path | None = None,
    examples: str | Path | None = None,
    *,
    model: bool = True,
    cache_dir: Path | None = None,
) -> Classifier:
    """Load a rules file (the built-in one for None) and use it from now on.

    `examples` is a labelled JSONL file or a folder of them that the text
    model learns from besides the built-in examples; `model=False` classifies with
    the rules alone. Raises ConfigFileError naming the line of each problem
    in the rules, so a worker that calls this at start refuses to run with a
    broken file; the examples are read when the model first trains
    (`preload`). The trained model is cached in `cache_dir`, by default
    `~/.cache/helpdesk`.
    """
    global _classifier
    classifier = Classifier(
        load_rules(path),
        example_sources(examples) if model else None,
        cache_dir or default_cache_dir(),
    )
    with _lock:
        _classifier = classifier
    return classifier


def get_classifier() -> Classifier:
    """Return the process's classifier, loading the built-in files on first use."""
    global _classifier
    with _lock:
        if _classifier is None:
            _classifier = Classifier(
                load_rules(), example_sources(), default_cache_dir()
            )
        return _classifier


def preload() -> None:
    """Load the language models and train the text model now, not on the
    first ticket."""
    get_classifier().preload()


def classify(intake: TicketIntake) -> Classification:
    """Classify a ticket, keeping the type, category and priority it came with."""
    return get_classifier().classify(intake)
