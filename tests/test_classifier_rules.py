"""Checks of the classification rules file."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk.classification import load_rules, parse_rules, use_rules
from helpdesk.config import ConfigFileError, builtin_path

BUILTIN = builtin_path("classification.yaml").read_text(encoding="utf-8")


def test_builtin_rules_load() -> None:
    rules = load_rules()

    assert rules.priority.matrix["platform"]["down"].value == "P1"
    assert set(rules.languages) >= {
        "en",
        "ru",
        "es",
        "pl",
        "nl",
        "id",
        "de",
        "pt",
        "tr",
    }


def test_invalid_yaml_names_line() -> None:
    with pytest.raises(ConfigFileError, match=r"rules\.yaml:3: invalid YAML"):
        parse_rules("version: 1\nlanguages: [en\nlimits: {", source="rules.yaml")


def test_bad_regex_rejected() -> None:
    text = BUILTIN.replace(
        "regex: '\\b(?P<code>5xx)\\b'", "regex: '\\b(?P<code>5xx\\b'"
    )
    assert text != BUILTIN

    with pytest.raises(ConfigFileError) as raised:
        parse_rules(text, source="rules.yaml")

    message = str(raised.value)
    assert "invalid regular expression" in message
    assert "rules.yaml:" in message
    assert "patterns." in message


def test_missing_matrix_cell_rejected() -> None:
    text = BUILTIN.replace(
        "single:   {down: P3, degraded: P3, request: P4}",
        "single:   {down: P3, degraded: P3}",
    )
    assert text != BUILTIN

    with pytest.raises(ConfigFileError, match="no cell for single x request"):
        parse_rules(text)


def test_unknown_priority_rejected() -> None:
    text = BUILTIN.replace(
        "platform: {down: P1, degraded: P2, request: P3}",
        "platform: {down: P0, degraded: P2, request: P3}",
    )

    with pytest.raises(ConfigFileError, match=r"priority\.matrix\.platform\.down"):
        parse_rules(text)


def test_terms_for_unlisted_language_rejected() -> None:
    text = BUILTIN.replace(
        "languages: [en, ru, es, pl, nl, id, de, pt, tr]",
        "languages: [en, ru, es, pl, nl, id, de, pt]",
    )

    with pytest.raises(
        ConfigFileError, match="language tr, which is not in 'languages'"
    ):
        parse_rules(text)


def test_unknown_signal_in_adds_rejected() -> None:
    text = BUILTIN.replace("adds: {urgency.down: 3.0}", "adds: {urgency.panic: 3.0}", 1)

    with pytest.raises(ConfigFileError, match="unknown signal 'urgency.panic'"):
        parse_rules(text)


def test_short_stem_rejected() -> None:
    text = BUILTIN.replace("[server*, cluster*,", "[se*, cluster*,", 1)

    with pytest.raises(ConfigFileError, match="'se\\*'.*at least 3"):
        parse_rules(text)


def test_star_inside_word_rejected() -> None:
    text = BUILTIN.replace("[server*, cluster*,", "[ser*ver, cluster*,", 1)

    with pytest.raises(ConfigFileError, match="'\\*' may only end a word"):
        parse_rules(text)


def test_use_rules_rejects_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "classification.yaml"
    broken.write_text(BUILTIN.replace("version: 1", "version: 0"), encoding="utf-8")

    with pytest.raises(ConfigFileError, match=f"{broken}:\\d+: version"):
        use_rules(broken)


def test_unreadable_file_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read the classification rules"):
        load_rules(tmp_path / "missing.yaml")


def test_negative_preferred_signals_rejected() -> None:
    text = BUILTIN.replace("preferred_signals: 2", "preferred_signals: -1", 1)
    assert text != BUILTIN

    with pytest.raises(ConfigFileError, match=r"preferred_signals"):
        parse_rules(text)
