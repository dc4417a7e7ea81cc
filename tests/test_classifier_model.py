"""The text model: its examples, its training, and how it meets the rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpdesk.classification import (
    EXAMPLES_DIR,
    Classifier,
    get_classifier,
    load_rules,
    parse_rules,
)
from helpdesk.classification import model as model_module
from helpdesk.classification.labelled import read_labelled
from helpdesk.classification.model import TextModel, load_examples, load_or_train
from helpdesk.config import ConfigFileError
from helpdesk.domain import Priority, TicketIntake


def ticket(title: str, description: str = "", **fields: Any) -> TicketIntake:
    return TicketIntake.model_validate(
        {
            "title": title,
            "description": description or title,
            "reporter": {"kind": fields.pop("reporter", "player")},
            "channel": fields.pop("channel", "chat"),
            **fields,
        }
    )


def labelled(title: str, description: str, **expected: str) -> str:
    return json.dumps(
        {
            "title": title,
            "description": description,
            "channel": "chat",
            "reporter": {"kind": "player"},
            "expected": expected,
        },
        ensure_ascii=False,
    )


# Two kinds of ticket, four wordings each, in three languages. The second
# kind uses no word that the rules list, so only the model can learn it.
PAYOUT = {"type": "payment_issue", "category": "payment", "priority": "P2"}
LOBBY = {"type": "technical_incident", "category": "user_system", "priority": "P3"}
EXAMPLES = [
    labelled("payout not received", "my payout from Monday never reached me", **PAYOUT),
    labelled(
        "where is my cashout", "cashout pending for 5 days, still nothing", **PAYOUT
    ),
    labelled("wypłata nie dotarła", "moja wypłata nie dotarła na konto", **PAYOUT),
    labelled("выплата не пришла", "выплата не пришла уже неделю", **PAYOUT),
    labelled("avatar picker blank", "the avatar picker shows a blank grid", **LOBBY),
    labelled("avatar grid empty", "avatar grid empty after the update", **LOBBY),
    labelled("wybór awatara pusty", "wybór awatara pokazuje pustą siatkę", **LOBBY),
    labelled("выбор аватара пустой", "выбор аватара пустой после обновления", **LOBBY),
]


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "few.jsonl").write_text("\n".join(EXAMPLES) + "\n", encoding="utf-8")
    return folder


def test_model_learns_wording_the_rules_do_not_list(examples: Path) -> None:
    rules = load_rules()
    model = TextModel.train(load_examples([examples]), rules.model)

    guesses = model.predict(ticket("Avatar chooser is just blank squares"))

    assert model.examples == len(EXAMPLES)
    assert set(model.fields) == {"type", "category", "priority", "pair"}
    assert guesses["category"].label == "user_system"
    assert guesses["type"].label == "technical_incident"
    assert 0.5 < guesses["category"].probability <= 1.0
    assert sum(guesses["category"].probabilities.values()) == pytest.approx(1.0)


def test_classifier_blends_and_says_so(examples: Path) -> None:
    classifier = Classifier(load_rules(), [examples])

    result = classifier.classify(ticket("Avatar chooser is just blank squares"))

    text = "\n".join(result.reasons)
    assert result.category.value == "user_system"
    assert "text model" in text
    assert "user_system" in text


def test_reporter_values_are_kept_whatever_the_model_says(examples: Path) -> None:
    classifier = Classifier(load_rules(), [examples])

    result = classifier.classify(
        ticket(
            "payout not received",
            "my payout never reached me",
            type="security_alert",
            category="security",
            priority="P1",
        )
    )

    assert (result.type.value, result.category.value, result.priority) == (
        "security_alert",
        "security",
        Priority.P1,
    )
    assert result.source == "reporter"


def test_possible_p1_is_never_parked_below_p2(tmp_path: Path) -> None:
    # Examples that only know P3 and P4: the model alone would put an outage
    # at P3, but the rules see a platform outage, so the guard keeps P2 or
    # better, and the "core function down" floor keeps P1.
    quiet = [
        labelled(
            "typo on the promo page", "the promo page says 'bonsu'", priority="P4"
        ),
        labelled("add dark mode", "please add a dark mode to the app", priority="P4"),
        labelled("font too small", "the font in the cashier is small", priority="P4"),
        labelled(
            "slot froze once", "a slot froze once, a reload fixed it", priority="P3"
        ),
        labelled("avatar missing", "my avatar is missing since today", priority="P3"),
        labelled("chat slow", "the live chat answers slowly today", priority="P3"),
    ]
    path = tmp_path / "quiet.jsonl"
    path.write_text("\n".join(quiet) + "\n", encoding="utf-8")
    text = load_rules().model_dump(mode="json")
    text["model"]["rules_weight"] = {"priority": 0.0}
    text["model"]["keep_floors"] = False
    rules = parse_rules(json.dumps(text))
    classifier = Classifier(rules, [path])

    result = classifier.classify(
        ticket(
            "Whole platform down, nobody can log in",
            "Since 09:10 every player on every brand gets a 503 on login and "
            "the lobby. Nothing works, all players are affected.",
            channel="monitoring",
            reporter="monitoring",
        )
    )

    assert result.priority.level <= 2, result.reasons
    assert "kept at P2" in "\n".join(result.reasons)


@pytest.mark.parametrize("words", [("hi", "??"), ("help", "help"), ("site??", "pls")])
def test_vague_ticket_keeps_the_safe_default(words: tuple[str, str]) -> None:
    result = get_classifier().classify(ticket(*words))

    assert result.needs_triage, result.reasons
    assert result.category.value == "user_system"
    assert result.priority == Priority.P3
    assert result.confidence < 0.5
    assert "text model finds no subject either" in "\n".join(result.reasons)


def test_rules_only_classifier_has_no_model() -> None:
    classifier = Classifier(load_rules(), None)

    result = classifier.classify(ticket("Withdrawal never arrived", "80 EUR missing"))

    assert classifier.text_model() is None
    assert not any("text model" in reason for reason in result.reasons)


def test_model_disabled_in_the_rules_file(examples: Path) -> None:
    text = load_rules().model_dump(mode="json")
    text["model"]["enabled"] = False
    classifier = Classifier(parse_rules(json.dumps(text)), [examples])

    assert classifier.text_model() is None


def test_bad_example_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        EXAMPLES[0] + "\n" + '{"title": "x", "expected": {"type": "oops"}}\n',
        encoding="utf-8",
    )

    with pytest.raises(ConfigFileError) as caught:
        load_examples([path])

    message = str(caught.value)
    assert f"{path}:2" in message
    assert "'oops' is not one of" in message


def test_examples_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="does not exist"):
        load_examples([tmp_path / "nowhere"])


def test_examples_folder_without_tickets(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="no labelled tickets"):
        load_examples([tmp_path])


def test_examples_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(EXAMPLES[2].encode("utf-8").replace("ł".encode(), b"\xb3") + b"\n")

    with pytest.raises(ConfigFileError, match="not UTF-8"):
        load_examples([path])


def test_examples_file_that_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "gone.jsonl").symlink_to(tmp_path / "deleted.jsonl")

    with pytest.raises(ConfigFileError, match=r"cannot read .*gone\.jsonl"):
        load_examples([tmp_path])


@pytest.mark.parametrize("count", [1, 2, len(EXAMPLES)])
def test_examples_with_one_label_per_field(tmp_path: Path, count: int) -> None:
    # Every ticket labelled alike: no field has two labels to tell apart.
    path = tmp_path / "alike.jsonl"
    alike = [
        labelled(f"payout {n} missing", "never arrived", **PAYOUT) for n in range(count)
    ]
    path.write_text("\n".join(alike) + "\n", encoding="utf-8")

    with pytest.raises(ConfigFileError, match="would learn nothing"):
        TextModel.train(load_examples([path]), load_rules().model)


def test_broken_examples_stop_preload(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{not json\n", encoding="utf-8")
    classifier = Classifier(load_rules(), [path])

    with pytest.raises(ConfigFileError, match="invalid JSON"):
        classifier.preload()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rules_weight": {"type": 1.5}}, "rules_weight.type must be from 0 to 1"),
        ({"char_ngrams": [5, 2]}, "char_ngrams must be"),
        ({"regularisation": 0}, "greater than 0"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_model_settings_are_checked(change: dict[str, Any], message: str) -> None:
    text = load_rules().model_dump(mode="json")
    text["model"].update(change)

    with pytest.raises(ConfigFileError, match=message):
        parse_rules(json.dumps(text))


def test_shipped_examples_are_clean_and_cover_every_label() -> None:
    files = sorted(EXAMPLES_DIR.glob("*.jsonl"))
    seen: dict[str, set[str]] = {"type": set(), "category": set(), "priority": set()}
    total = 0
    for file in files:
        tickets, problems = read_labelled(file)
        assert problems == [], problems
        total += len(tickets)
        for item in tickets:
            for name, value in item.expected.items():
                seen[name].add(value)

    assert total >= 1000
    assert len(seen["type"]) == 6
    assert len(seen["category"]) == 6
    assert seen["priority"] == {"P1", "P2", "P3", "P4"}


def test_trained_model_is_cached_and_reused(examples: Path, tmp_path: Path) -> None:
    settings = load_rules().model
    cache = tmp_path / "cache"

    first = load_or_train([examples], settings, cache)
    files = list(cache.glob("text-model-*.pickle"))
    second = load_or_train([examples], settings, cache)

    assert len(files) == 1
    assert files[0].stat().st_mode & 0o077 == 0
    assert second is not first
    assert second.train_seconds == first.train_seconds
    probe = ticket("Avatar chooser is just blank squares")
    assert second.predict(probe) == first.predict(probe)


def test_changed_examples_train_a_new_model(examples: Path, tmp_path: Path) -> None:
    settings = load_rules().model
    cache = tmp_path / "cache"
    load_or_train([examples], settings, cache)

    with (examples / "few.jsonl").open("a", encoding="utf-8") as file:
        file.write(EXAMPLES[0].replace("Monday", "Tuesday") + "\n")
    load_or_train([examples], settings, cache)

    assert len(list(cache.glob("text-model-*.pickle"))) == 2


def test_changed_training_code_trains_a_new_model(
    examples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for model.py, so that the test can edit the training code.
    code = tmp_path / "model.py"
    code.write_text("min_df = 1\n", encoding="utf-8")
    monkeypatch.setattr(model_module, "_TRAINING_CODE", (code,))
    settings = load_rules().model
    cache = tmp_path / "cache"
    load_or_train([examples], settings, cache)

    code.write_text("min_df = 2\n", encoding="utf-8")
    load_or_train([examples], settings, cache)

    assert len(list(cache.glob("text-model-*.pickle"))) == 2


def test_training_code_is_in_the_cache_key() -> None:
    names = {path.name for path in model_module._TRAINING_CODE}

    assert names == {"model.py", "text.py", "labelled.py"}
    assert all(path.is_file() for path in model_module._TRAINING_CODE)


@pytest.mark.parametrize("damage", ["writable by others", "truncated"])
def test_suspect_cache_file_is_not_loaded(
    examples: Path, tmp_path: Path, damage: str
) -> None:
    settings = load_rules().model
    cache = tmp_path / "cache"
    first = load_or_train([examples], settings, cache)
    (cached,) = cache.glob("text-model-*.pickle")
    if damage == "writable by others":
        cached.chmod(0o666)
    else:
        cached.write_bytes(cached.read_bytes()[:100])

    again = load_or_train([examples], settings, cache)

    assert again.train_seconds != first.train_seconds  # trained, not loaded
    assert again.predict(ticket("payout missing"))["category"].label == "payment"


def test_ticket_without_letters_gets_the_safe_default() -> None:
    result = get_classifier().classify(ticket("😡😡😡", "🔥🔥🔥💸💸 !!!"))

    assert result.needs_triage
    assert (result.type.value, result.category.value) == (
        "service_request",
        "user_system",
    )
    assert result.priority == Priority.P3
    assert result.confidence <= 0.1
    assert "no words, only symbols" in "\n".join(result.reasons)


def test_lead_examples_add_to_the_built_in_ones(examples: Path) -> None:
    from helpdesk.classification import use_rules

    classifier = use_rules(examples=examples, cache_dir=examples.parent / "cache")
    try:
        assert classifier.examples == [EXAMPLES_DIR, examples]
    finally:
        use_rules()


def test_unknown_floor_after_blend_is_rejected() -> None:
    text = load_rules().model_dump(mode="json")
    text["model"]["floors_after_blend"] = ["no such floor"]

    with pytest.raises(
        ConfigFileError, match="no priority floor named 'no such floor'"
    ):
        parse_rules(json.dumps(text))
