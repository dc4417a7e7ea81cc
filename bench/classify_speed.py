"""Measure classification time per ticket and the memory the classifier costs.

Classifies every ticket of the labelled JSONL files (the held-out set by
default) `--rounds` times, plus a 20,000-character ticket with a long log,
and prints mean, p50, p99 and max time per ticket, the time to load the
rules and language models, and the process's resident memory before and
after loading. Memory is read from /proc (Linux only).

    python bench/classify_speed.py
    python bench/classify_speed.py --accuracy high --rounds 20
    python bench/classify_speed.py --file ../shared/tickets/sample.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "tests" / "fixtures" / "classification_holdout_b.jsonl"


def rss_mib() -> float:
    """Return the resident set size of this process in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_intakes(paths: list[Path]) -> list[Any]:
    from helpdesk.domain import TicketIntake

    fields = set(TicketIntake.model_fields)
    intakes = []
    for path in paths:
        for text in path.read_text(encoding="utf-8").splitlines():
            if not text.strip():
                continue
            data = json.loads(text)
            for key in ("type", "category", "priority"):
                data.pop(key, None)
            intakes.append(
                TicketIntake.model_validate(
                    {key: value for key, value in data.items() if key in fields}
                )
            )
    return intakes


def huge_ticket() -> Any:
    from helpdesk.domain import TicketIntake

    log = "\n".join(
        f"2025-06-01T12:{i // 60 % 60:02d}:{i % 60:02d}Z ERROR gateway POST "
        f"/api/deposit -> 503 Service Unavailable upstream=psp request={i:06d}"
        for i in range(400)
    )
    prose = "Players report that deposits fail with a spinning wheel. " * 40
    return TicketIntake.model_validate(
        {
            "title": "Deposits failing: cashier gateway 503 for everyone",
            "description": (prose + "\n" + log)[:20_000],
            "channel": "email",
            "reporter": {"kind": "internal"},
        }
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(share * (len(ordered) - 1)))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--file", type=Path, action="append", help="labelled JSONL (repeatable)"
    )
    parser.add_argument(
        "--rounds", type=int, default=10, help="passes over the tickets"
    )
    parser.add_argument(
        "--accuracy",
        choices=["rules", "low", "high"],
        default="rules",
        help="language detector mode; 'rules' keeps the rules file's setting",
    )
    args = parser.parse_args()

    rss_start = rss_mib()
    started = time.perf_counter()
    from helpdesk.classification import Classifier, load_rules

    rules = load_rules()
    if args.accuracy != "rules":
        detection = rules.language_detection.model_copy(
            update={"accuracy": args.accuracy}
        )
        rules = rules.model_copy(update={"language_detection": detection})
    classifier = Classifier(rules)
    rss_imported = rss_mib()
    classifier.preload()
    load_seconds = time.perf_counter() - started
    rss_loaded = rss_mib()

    intakes = load_intakes(args.file or [DEFAULT_FILE])
    timings: list[float] = []
    for _ in range(args.rounds):
        for intake in intakes:
            begin = time.perf_counter()
            classifier.classify(intake)
            timings.append(time.perf_counter() - begin)

    big = huge_ticket()
    big_timings = []
    for _ in range(args.rounds):
        begin = time.perf_counter()
        classifier.classify(big)
        big_timings.append(time.perf_counter() - begin)
    rss_end = rss_mib()

    ms = [t * 1000 for t in timings]
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{platform.processor() or 'unknown cpu'}"
    )
    print(f"language detection: {rules.language_detection.accuracy} accuracy mode")
    print(f"load rules and models: {load_seconds * 1000:.0f} ms")
    print(
        f"memory (RSS): start {rss_start:.0f} MiB, after import {rss_imported:.0f} MiB,"
        f" after loading {rss_loaded:.0f} MiB, after the run {rss_end:.0f} MiB"
    )
    print(f"classifier cost: {rss_end - rss_start:.0f} MiB")
    print(
        f"{len(ms)} classifications ({len(intakes)} tickets x {args.rounds}): "
        f"mean {statistics.mean(ms):.2f} ms, p50 {percentile(ms, 0.5):.2f} ms, "
        f"p99 {percentile(ms, 0.99):.2f} ms, max {max(ms):.2f} ms"
    )
    big_ms = [t * 1000 for t in big_timings]
    print(
        f"20,000-character ticket with a 400-line log: mean "
        f"{statistics.mean(big_ms):.2f} ms, max {max(big_ms):.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
