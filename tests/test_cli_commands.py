"""The `helpdesk` command line: argument checks and configuration errors that
stop a command before it starts any server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.helpdesk_stack import free_port

from helpdesk.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
BAD_POLICY = 'version: "x"\npriorities:\n  P1: {first_response: 1x}\n'


def helpdesk(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helpdesk.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def test_check_policy_accepts_example() -> None:
    result = helpdesk("check-policy", str(REPO / "deploy" / "sla-policy.yaml"))

    assert result.returncode == 0, result.stderr
    assert "valid SLA policy, version 2026-12" in result.stdout


def test_check_policy_names_bad_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(BAD_POLICY)

    result = helpdesk("check-policy", str(policy))

    assert result.returncode == 2
    assert f"{policy}:3: priorities.P1.first_response: invalid duration" in (
        result.stderr
    )


def test_check_policy_reports_missing_file(tmp_path: Path) -> None:
    result = helpdesk("check-policy", str(tmp_path / "absent.yaml"))

    assert result.returncode == 2
    assert "cannot read" in result.stderr
    assert "absent.yaml: No such file or directory" in result.stderr


def test_api_refuses_bad_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(BAD_POLICY)

    result = helpdesk(
        "api",
        "--port",
        str(free_port()),
        env={
            "HELPDESK_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "HELPDESK_SLA_POLICY_FILE": str(policy),
            "HELPDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
        },
    )

    assert result.returncode == 2
    assert f"{policy}:3" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", "--api-port", "70000"], "invalid port 70000"),
        (["up", "--ui-port", "web"], "invalid port 'web'"),
        (["demo", "--file", "x.jsonl", "--resolve-share", "1.5"], "invalid share 1.5"),
        (["demo"], "--file"),
        ([], "COMMAND"),
    ],
)
def test_parser_rejects_bad_arguments(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(args)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_up_defaults() -> None:
    args = build_parser().parse_args(["up"])

    assert args.data_dir == Path(".data")
    assert (args.api_port, args.temporal_port, args.ui_port) == (8000, 7233, 8233)
    assert args.sla_policy is None


def test_up_rejects_shared_port(tmp_path: Path) -> None:
    port = free_port()

    result = helpdesk(
        "up",
        "--data-dir",
        str(tmp_path / "data"),
        "--api-port",
        str(port),
        "--temporal-port",
        str(free_port()),
        "--ui-port",
        str(port),
    )

    assert result.returncode == 2, result.stderr
    assert f"--api-port and --ui-port are both {port}" in result.stderr
    assert not (tmp_path / "data").exists()


def test_up_rejects_data_dir_that_is_file(tmp_path: Path) -> None:
    regular_file = tmp_path / "notes.txt"
    regular_file.write_text("not a directory\n")

    result = helpdesk(
        "up",
        "--data-dir",
        str(regular_file),
        "--api-port",
        str(free_port()),
        "--temporal-port",
        str(free_port()),
        "--ui-port",
        str(free_port()),
    )

    assert result.returncode == 2, result.stderr
    assert f"--data-dir {regular_file} is a file, not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def policy_commands(policy: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {
        "check-policy": ["check-policy", str(policy)],
        "up": [
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--api-port",
            str(free_port()),
            "--temporal-port",
            str(free_port()),
            "--ui-port",
            str(free_port()),
            "--sla-policy",
            str(policy),
        ],
        "api": ["api", "--port", str(free_port())],
    }


@pytest.mark.parametrize("command", ["check-policy", "up", "api"])
def test_policy_that_is_not_utf8_exits_2(command: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(b'version: "caf\xe9"\npriorities: {}\n')
    env = {
        "HELPDESK_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "HELPDESK_SLA_POLICY_FILE": str(policy),
        "HELPDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
    }

    result = helpdesk(*policy_commands(policy, tmp_path)[command], env=env)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "not valid UTF-8" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_reports_what_it_did(tmp_path: Path) -> None:
    env = {"HELPDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"}

    first = helpdesk("migrate", env=env)
    again = helpdesk("migrate", env=env)

    assert first.returncode == 0, first.stderr
    assert "migrated the database from revision none to 0002" in first.stdout
    assert re.search(r"added \d+ specialists from the roster", first.stdout)
    assert again.returncode == 0, again.stderr
    assert "the database schema is up to date (revision 0002)" in again.stdout
    assert "none added" in again.stdout


def test_worker_refuses_broken_examples(tmp_path: Path) -> None:
    examples = tmp_path / "examples.jsonl"
    examples.write_text('{"title": "x", "expected": {"type": "oops"}}\n')
    env = {
        "HELPDESK_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "HELPDESK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
        "HELPDESK_CLASSIFICATION_EXAMPLES": str(examples),
    }

    result = helpdesk("worker", env=env)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: classification examples: 1 bad line(s)" in result.stderr
    assert f"{examples}:1: expected type 'oops'" in result.stderr
    assert "Traceback" not in result.stderr


def test_classify_rejects_unwritable_out(tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(
        '{"title": "Withdrawal never arrived", "expected": {"priority": "P2"}}\n'
    )
    out = tmp_path / "missing-folder" / "report.txt"

    result = helpdesk("classify", "--eval", str(labelled), "--out", str(out))

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: cannot write {out}: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_refuses_broken_examples_before_starting(tmp_path: Path) -> None:
    examples = tmp_path / "examples.jsonl"
    examples.write_text('{"title": "x", "expected": {"priority": "P9"}}\n')

    result = helpdesk(
        "up",
        "--data-dir",
        str(tmp_path / "data"),
        env={"HELPDESK_CLASSIFICATION_EXAMPLES": str(examples)},
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{examples}:1: expected priority 'P9'" in result.stderr
    assert "helpdesk is up" not in result.stdout
    assert not (tmp_path / "data").exists()
