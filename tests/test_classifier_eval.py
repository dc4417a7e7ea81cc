"""The evaluation command, and the accuracy guard on the held-out tickets."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpdesk.classification.evaluate import TARGETS, evaluate_file, run_eval

FIXTURES = Path(__file__).parent / "fixtures" / "classification_holdout_b.jsonl"


@dataclass(frozen=True)
class Floor:
    """Minimum figures a held-out set must keep (fractions of its tickets)."""

    cases: int
    type: float
    category: float
    priority: float
    within_one: float
    p1_missed: int


# The held-out sets: written by people who saw neither the rules nor the
# examples, and never used to train or tune. Each was scored once with the
# configuration of its day (docs/benchmarks.md has those first figures);
# the floors sit just under the figures now, to catch a regression.
# Holdouts A, C and D reword the kinds of the shared sample tickets (D was
# written and scored after the last change), holdout B is a broad week of
# tickets. Where a floor is below the target of the issue (priority 75%,
# within one level 95%, no P1 at P3 or P4), the shortfall is real and
# recorded in docs/benchmarks.md, not hidden here.
HELD_OUT = {
    "classification_holdout_a.jsonl": Floor(90, 0.90, 0.93, 0.72, 0.95, 1),
    "classification_holdout_b.jsonl": Floor(100, 0.93, 0.93, 0.73, 0.96, 0),
    "classification_holdout_c.jsonl": Floor(60, 0.90, 0.93, 0.71, 0.96, 0),
    "classification_holdout_d.jsonl": Floor(60, 0.93, 0.96, 0.76, 0.96, 0),
}


@pytest.mark.parametrize("name", sorted(HELD_OUT))
def test_held_out_accuracy_holds(name: str) -> None:
    floor = HELD_OUT[name]

    report = evaluate_file(FIXTURES.parent / name)

    assert len(report.cases) == floor.cases
    assert not report.bad_lines
    assert report.accuracy("type") >= floor.type
    assert report.accuracy("category") >= floor.category
    assert report.accuracy("priority") >= floor.priority
    assert report.priority_within_one() >= floor.within_one
    assert len(report.p1_missed()) <= floor.p1_missed


def test_targets_are_the_issue_targets() -> None:
    assert TARGETS == {
        "type": 0.85,
        "category": 0.85,
        "priority": 0.75,
        "priority_within_one": 0.95,
    }


def test_run_eval_prints_tables() -> None:
    out = io.StringIO()

    code = run_eval(FIXTURES, explain=False, out=out)

    text = out.getvalue()
    assert code in (0, 1)  # 1: a target missed, which the table shows
    assert "100 tickets from classification_holdout_b.jsonl" in text
    assert "priority within one level" in text
    assert "P1 classified P3/P4" in text
    assert "category: expected (rows) x classified (columns)" in text


def test_run_eval_explain_shows_reasons(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    line = {
        "title": "Withdrawal never arrived",
        "description": "My withdrawal of 80 EUR is marked paid but never arrived.",
        "reporter": {"kind": "player"},
        "expected": {"type": "payment_issue", "category": "payment", "priority": "P2"},
    }
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    out = io.StringIO()

    run_eval(path, explain=True, out=out)

    text = out.getvalue()
    assert "line 1" in text
    assert "category payment" in text
    assert "impact single" in text


def test_run_eval_reports_bad_lines_and_continues(tmp_path: Path) -> None:
    good = {
        "title": "Pragmatic slots not loading",
        "channel": "chat",
        "reporter": {"kind": "player"},
        "expected": {"category": "provider"},
    }
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{not json",
                json.dumps({"title": "no labels", "reporter": {"kind": "player"}}),
                json.dumps({"title": "", "expected": {"type": "security_alert"}}),
                json.dumps({"title": "x", "expected": {"priority": "P9"}}),
                json.dumps({**good, "reporter": {"kind": "alien"}}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = io.StringIO()

    code = run_eval(path, explain=False, out=out)

    text = out.getvalue()
    assert code == 2
    assert f"{path}:2: invalid JSON" in text
    assert f"{path}:3: missing 'expected'" in text
    assert f"{path}:4: invalid intake: title" in text
    assert f"{path}:5: expected priority 'P9'" in text
    assert f"{path}:6: invalid intake: reporter.kind" in text
    assert "1 tickets from mixed.jsonl" in text


def test_run_eval_missing_file(tmp_path: Path) -> None:
    out = io.StringIO()

    code = run_eval(tmp_path / "absent.jsonl", explain=False, out=out)

    assert code == 2
    assert "cannot read" in out.getvalue()
