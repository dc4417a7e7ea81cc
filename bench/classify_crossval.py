"""Estimate accuracy on unseen tickets by leaving one examples file out.

For each labelled file in the examples folder, trains the text model on all
the other files, then classifies and scores the file left out. Prints each
file's figures and the pooled ones, beside the rules alone. A file
written without sight of the rules (the round2 files) gives an honest
estimate for the rules too; the round1 files were used to tune the rules,
so their rules-only figures are optimistic.

    python bench/classify_crossval.py
    python bench/classify_crossval.py --held round2 --rules-weight 0.3
    python bench/classify_crossval.py --examples my-examples/

Options that change the model settings (--rules-weight, --regularisation)
override the rules file for this run only, to compare settings before
writing them into classification.yaml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpdesk.classification import EXAMPLES_DIR, Classifier, load_rules  # noqa: E402
from helpdesk.classification.evaluate import EvalReport, evaluate_file  # noqa: E402
from helpdesk.classification.labelled import FIELDS  # noqa: E402


def figures(report: EvalReport) -> str:
    cells = [f"{name} {100 * (report.accuracy(name) or 0):5.1f}" for name in FIELDS]
    within = report.priority_within_one() or 0
    cells.append(f"within-one {100 * within:5.1f}")
    cells.append(f"P1->P3/P4 {len(report.p1_missed())}")
    return "  ".join(cells)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path, default=EXAMPLES_DIR)
    parser.add_argument("--rules", type=Path, help="rules file (built-in if unset)")
    parser.add_argument(
        "--held", default="", help="hold out only files whose name starts with this"
    )
    parser.add_argument(
        "--rules-weight",
        type=float,
        nargs="+",
        help="one weight for all three fields, or three: type, category, priority",
    )
    parser.add_argument("--regularisation", type=float)
    parser.add_argument("--p1-miss-cost", type=float)
    parser.add_argument(
        "--balanced", nargs="*", choices=FIELDS, help="fields with balanced labels"
    )
    parser.add_argument("--joint", choices=["on", "off"], help="pair model for type")
    parser.add_argument(
        "--floors", choices=["keep", "drop", "policy"], help="whether rule floors hold"
    )
    args = parser.parse_args()

    rules = load_rules(args.rules)
    changes: dict[str, object] = {}
    if args.rules_weight is not None:
        weights = (
            args.rules_weight * 3 if len(args.rules_weight) == 1 else args.rules_weight
        )
        if len(weights) != 3:
            parser.error("--rules-weight takes one weight or three")
        changes["rules_weight"] = dict(zip(FIELDS, weights, strict=True))
    if args.regularisation is not None:
        changes["regularisation"] = args.regularisation
    if args.p1_miss_cost is not None:
        changes["p1_miss_cost"] = args.p1_miss_cost
    if args.balanced is not None:
        changes["balanced"] = args.balanced
    if args.joint is not None:
        changes["joint"] = args.joint == "on"
    if args.floors is not None:
        changes["keep_floors"] = args.floors != "drop"
        changes["floors_after_blend"] = None
        if args.floors == "policy":
            changes["floors_after_blend"] = [
                "active compromise",
                "responsible gambling requests are handled the same day",
                "a player's money is missing or stuck",
            ]
    if changes:
        rules = rules.model_copy(
            update={"model": rules.model.model_copy(update=changes)}
        )
    print(f"model settings: {rules.model}")
    files = sorted(args.examples.glob("*.jsonl"))
    held_out = [f for f in files if f.name.startswith(args.held)]
    rules_only = Classifier(rules, None)
    pooled, pooled_rules = EvalReport(), EvalReport()
    for left_out in held_out:
        classifier = Classifier(rules, [f for f in files if f != left_out])
        report = evaluate_file(left_out, classifier)
        baseline = evaluate_file(left_out, rules_only)
        pooled.cases += report.cases
        pooled_rules.cases += baseline.cases
        print(f"{left_out.name} ({len(report.cases)} tickets)")
        print(f"  blended     {figures(report)}")
        print(f"  rules alone {figures(baseline)}", flush=True)
    print(f"all held-out files ({len(pooled.cases)} tickets)")
    print(f"  blended     {figures(pooled)}")
    print(f"  rules alone {figures(pooled_rules)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
