from datetime import timedelta
from pathlib import Path

import pytest

from helpdesk.domain import Priority
from helpdesk.policy_file import PolicyFileError, load_policy, parse_policy
from helpdesk.sla import DEFAULT_POLICY, SlaPolicy, format_duration, parse_duration

DEPLOY_POLICY = Path(__file__).resolve().parent.parent / "deploy" / "sla-policy.yaml"

VALID = """\
version: "2026-12"
warning_thresholds: [0.75, 0.9]
reopen_window: 72h
priorities:
  P1: {first_response: 15m, resolution: 4h}
  P2: {first_response: 30m, resolution: 8h}
  P3: {first_response: 2h, resolution: 24h}
  P4: {first_response: 8h, resolution: 3d}
"""


def test_deployed_policy_loads() -> None:
    policy = load_policy(DEPLOY_POLICY)

    assert policy.targets(Priority.P1).first_response == timedelta(minutes=15)
    assert policy.targets(Priority.P4).resolution == timedelta(hours=72)
    assert policy.reopen_window == timedelta(hours=72)
    assert policy.escalation.steps[1].reassign


def test_valid_policy_parses_durations() -> None:
    policy = parse_policy(VALID)

    assert policy.version == "2026-12"
    assert policy.targets(Priority.P2).resolution == timedelta(hours=8)
    assert policy.targets(Priority.P4).resolution == timedelta(days=3)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (VALID.replace("15m", "15x"), 5, "invalid duration '15x'"),
        (VALID.replace("  P4: {first_response: 8h, resolution: 3d}\n", ""), 4, "P4"),
        (VALID.replace("[0.75, 0.9]", "[0.9, 0.75]"), 2, "rising order"),
        (VALID.replace("[0.75, 0.9]", "[75, 90]"), 2, "between 0 and 1"),
        (VALID.replace("first_response: 2h", "first_response: 30h"), 7, "longer"),
        (VALID + "surprise: true\n", 9, "surprise"),
        ("version: [unclosed\n", 2, "invalid YAML"),
        (VALID.replace("15m", "900"), 5, "invalid duration 900: write a number with"),
        (VALID.replace("72h", "259200"), 3, "invalid duration 259200"),
        (VALID.replace("resolution: 4h", "resolution: 4.5"), 5, "invalid duration 4.5"),
        (VALID + "escalation: {repeat_every: 1800}\n", 9, "invalid duration 1800"),
        (VALID + "escalation: {steps: [{after: 15}]}\n", 9, "invalid duration 15"),
        (VALID + "escalation: {steps: [{after: false}]}\n", 9, "invalid duration"),
    ],
)
def test_bad_policy_names_line_and_reason(text: str, line: int, fragment: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(text, source="policy.yaml")

    assert f"policy.yaml:{line}:" in str(caught.value)
    assert fragment in str(caught.value)


def test_missing_policy_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="cannot read the SLA policy"):
        load_policy(tmp_path / "absent.yaml")


def test_policy_survives_json_round_trip() -> None:
    # The policy travels inside the workflow input as JSON.
    dumped = DEFAULT_POLICY.model_dump_json()

    assert SlaPolicy.model_validate_json(dumped) == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("4h", 14_400), ("3d", 259_200), ("1h30m", 5_400)],
)
def test_duration_formats(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize("text", ["", "15", "m15", "15 minutes", "-5m", "0s"])
def test_invalid_duration_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_yaml_error_asks_to_load_the_file_again() -> None:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy("version: [unclosed\n", source="policy.yaml")

    assert str(caught.value).endswith("Fix the syntax and load the file again.")
    assert "restart" not in str(caught.value)


def test_duplicate_priority_names_both_lines() -> None:
    text = VALID + "  P1: {first_response: 5m, resolution: 1h}\n"

    with pytest.raises(PolicyFileError) as caught:
        parse_policy(text, source="policy.yaml")

    assert str(caught.value) == (
        "policy.yaml:9: duplicate key 'P1' in the SLA policy "
        "(first at line 5); keep one of them"
    )


def test_duplicate_key_in_flow_mapping_is_rejected() -> None:
    text = VALID.replace(
        "P2: {first_response: 30m,", "P2: {first_response: 30m, first_response: 1m,"
    )

    with pytest.raises(PolicyFileError) as caught:
        parse_policy(text, source="policy.yaml")

    assert "policy.yaml:6: duplicate key 'first_response'" in str(caught.value)
    assert "(first at line 6)" in str(caught.value)


def test_duplicate_top_level_key_is_rejected() -> None:
    text = VALID + 'version: "2027-01"\n'

    with pytest.raises(PolicyFileError, match="policy.yaml:9: duplicate key 'version'"):
        parse_policy(text, source="policy.yaml")


def test_merge_keys_may_be_overridden() -> None:
    text = VALID.replace(
        "  P1: {first_response: 15m, resolution: 4h}",
        "  P1: &p1 {first_response: 15m, resolution: 4h}",
    ).replace(
        "  P2: {first_response: 30m, resolution: 8h}",
        "  P2: {<<: *p1, resolution: 8h}",
    )

    policy = parse_policy(text)

    assert policy.targets(Priority.P2).first_response == timedelta(minutes=15)
    assert policy.targets(Priority.P2).resolution == timedelta(hours=8)


def test_policy_file_not_utf8_names_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    text = VALID.replace(
        'version: "2026-12"', "# Politique SLA r\u00e9vis\u00e9e\nversion: x"
    )
    path.write_bytes(text.encode("latin-1"))

    with pytest.raises(PolicyFileError) as caught:
        load_policy(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:1: the SLA policy is not valid UTF-8")
    assert "byte 0xe9 at offset 17" in message
    assert message.endswith("save the file as UTF-8")


def test_policy_file_with_utf8_bom_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(VALID.encode("utf-8-sig"))

    assert load_policy(path).version == "2026-12"


def test_control_character_in_policy_names_line() -> None:
    text = VALID.replace('version: "2026-12"', 'version: "2026\x07-12"')

    with pytest.raises(PolicyFileError) as caught:
        parse_policy(text, source="policy.yaml")

    assert str(caught.value).startswith(
        "policy.yaml:1: the SLA policy contains the character U+0007, "
        "which YAML does not allow; remove it"
    )


def test_policy_accepts_zero_delay_for_first_step() -> None:
    text = VALID + "escalation: {steps: [{after: 0}, {after: 0m}, {after: '0'}]}\n"

    policy = parse_policy(text)

    assert [step.after for step in policy.escalation.steps] == [timedelta(0)] * 3


def test_policy_accepts_timedeltas_and_iso_durations() -> None:
    data = DEFAULT_POLICY.model_dump(mode="json")
    data["priorities"]["P1"]["first_response"] = "PT20M"
    data["priorities"]["P1"]["resolution"] = timedelta(hours=5)

    policy = SlaPolicy.model_validate(data)

    assert policy.targets(Priority.P1).first_response == timedelta(minutes=20)
    assert policy.targets(Priority.P1).resolution == timedelta(hours=5)
