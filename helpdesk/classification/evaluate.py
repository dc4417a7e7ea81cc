"""Evaluation of the classifier on labelled tickets (JSONL).

Each line is a ticket in the intake shape with an `expected` object holding
some or all of `type`, `category` and `priority`. Missing optional intake
fields get their defaults; lines that cannot be read are reported with
their line number and skipped.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.table import Table

from helpdesk.classification import Classifier, get_classifier
from helpdesk.classification.labelled import FIELDS, LABELS, read_labelled
from helpdesk.domain import Classification, TicketIntake

# Accuracy that the classifier must reach on tickets it was not tuned on.
TARGETS = {
    "type": 0.85,
    "category": 0.85,
    "priority": 0.75,
    "priority_within_one": 0.95,
}


@dataclass
class Case:
    line: int
    ref: str
    intake: TicketIntake
    expected: dict[str, str]
    result: Classification


@dataclass
class EvalReport:
    """Results of one evaluation run."""

    cases: list[Case] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)

    def scored(self, name: str) -> list[Case]:
        return [case for case in self.cases if name in case.expected]

    def accuracy(self, name: str) -> float | None:
        cases = self.scored(name)
        if not cases:
            return None
        hits = sum(_got(case, name) == case.expected[name] for case in cases)
        return hits / len(cases)

    def confusion(self, name: str) -> Counter[tuple[str, str]]:
        return Counter(
            (case.expected[name], _got(case, name)) for case in self.scored(name)
        )

    def priority_within_one(self) -> float | None:
        cases = self.scored("priority")
        if not cases:
            return None
        near = sum(
            abs(_level(_got(c, "priority")) - _level(c.expected["priority"])) <= 1
            for c in cases
        )
        return near / len(cases)

    def p1_missed(self) -> list[Case]:
        """Return P1 tickets classified P3 or P4, the misses that must not happen."""
        return [
            case
            for case in self.scored("priority")
            if case.expected["priority"] == "P1" and _level(_got(case, "priority")) >= 3
        ]

    def missed_targets(self) -> list[str]:
        measured = {
            "type": self.accuracy("type"),
            "category": self.accuracy("category"),
            "priority": self.accuracy("priority"),
            "priority_within_one": self.priority_within_one(),
        }
        missed = [
            f"{name} {value:.0%} < {TARGETS[name]:.0%}"
            for name, value in measured.items()
            if value is not None and value < TARGETS[name]
        ]
        if self.p1_missed():
            missed.append(f"{len(self.p1_missed())} P1 tickets classified P3/P4")
        return missed


def _got(case: Case, name: str) -> str:
    return str(getattr(case.result, name).value)


def _level(priority: str) -> int:
    return int(priority[1])


def evaluate_file(path: Path, classifier: Classifier | None = None) -> EvalReport:
    """Classify every ticket in a labelled JSONL file and collect the results.

    Raises OSError when the file cannot be read.
    """
    classifier = classifier or get_classifier()
    report = EvalReport()
    tickets, report.bad_lines = read_labelled(path)
    for ticket in tickets:
        result = classifier.classify(ticket.intake)
        report.cases.append(
            Case(ticket.line, ticket.ref, ticket.intake, ticket.expected, result)
        )
    return report


def _confusion_table(report: EvalReport, name: str) -> Table:
    counts = report.confusion(name)
    labels = [label for label in LABELS[name] if any(label in pair for pair in counts)]
    table = Table(title=f"{name}: expected (rows) x classified (columns)")
    table.add_column("expected", style="bold")
    for label in labels:
        table.add_column(_short(label), justify="right")
    for expected in labels:
        cells = []
        for got in labels:
            count = counts.get((expected, got), 0)
            text = str(count) if count else "."
            cells.append(f"[green]{text}[/]" if expected == got and count else text)
        table.add_row(expected, *cells)
    return table


def _short(label: str) -> str:
    """Return a column header: the type without its kind suffix."""
    for suffix in ("_incident", "_request", "_issue", "_alert"):
        label = label.removesuffix(suffix)
    return label


def _explain(console: Console, case: Case) -> None:
    marks = []
    for name in FIELDS:
        got = _got(case, name)
        want = case.expected.get(name)
        if want is None or want == got:
            marks.append(got)
        else:
            marks.append(f"[red]{got}[/] (expected {want})")
    triage = " [yellow]needs triage[/]" if case.result.needs_triage else ""
    console.print(
        f"[bold]{case.ref}[/] {case.intake.title[:70]!r}\n"
        f"  -> {' / '.join(marks)}  confidence {case.result.confidence:.2f}{triage}",
        highlight=False,
    )
    for reason in case.result.reasons:
        console.print(f"     - {reason}", highlight=False, markup=False)


def run_eval(
    path: Path,
    *,
    explain: bool,
    out: TextIO = sys.stdout,
    classifier: Classifier | None = None,
) -> int:
    """Print accuracy and confusion tables for a labelled JSONL file.

    Returns the exit code: 0 when every line was read and the targets were
    met, 1 when a target was missed, 2 when the file or a line could not be
    read.
    """
    console = Console(file=out, width=120, soft_wrap=False)
    try:
        report = evaluate_file(path, classifier)
    except OSError as exc:
        console.print(f"cannot read {path}: {exc.strerror}", markup=False)
        return 2
    except UnicodeDecodeError as exc:
        console.print(
            f"cannot read {path}: not UTF-8 ({exc.reason} at byte {exc.start}); "
            "save it as UTF-8",
            markup=False,
        )
        return 2

    for problem in report.bad_lines:
        console.print(f"skipped {problem}", markup=False, highlight=False)
    if not report.cases:
        console.print(f"no usable tickets in {path}", markup=False)
        return 2
    if explain:
        for case in report.cases:
            _explain(console, case)
        console.print()

    summary = Table(title=f"{len(report.cases)} tickets from {path.name}")
    summary.add_column("field")
    summary.add_column("tickets", justify="right")
    summary.add_column("accuracy", justify="right")
    summary.add_column("target", justify="right")
    for name in FIELDS:
        accuracy = report.accuracy(name)
        if accuracy is not None:
            summary.add_row(
                name,
                str(len(report.scored(name))),
                f"{accuracy:.1%}",
                f"{TARGETS[name]:.0%}",
            )
    within = report.priority_within_one()
    if within is not None:
        summary.add_row(
            "priority within one level",
            str(len(report.scored("priority"))),
            f"{within:.1%}",
            f"{TARGETS['priority_within_one']:.0%}",
        )
        summary.add_row("P1 classified P3/P4", "", str(len(report.p1_missed())), "0")
    triage = sum(case.result.needs_triage for case in report.cases)
    summary.add_row("marked needs triage", "", str(triage), "")
    console.print(summary)
    for name in FIELDS:
        if report.scored(name):
            console.print(_confusion_table(report, name))
    for case in report.p1_missed():
        console.print(
            f"P1 missed: {case.ref} classified {_got(case, 'priority')}",
            markup=False,
        )

    missed = report.missed_targets()
    if missed:
        console.print("targets missed: " + "; ".join(missed), markup=False)
    if report.bad_lines:
        return 2
    return 1 if missed else 0
