"""Validation of the input models: text, attributes, names and booleans.

These models are also decoded inside running workflows, so each check must
accept what the recorded histories contain (tests/test_replay.py).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from helpdesk.config import ConfigFileError
from helpdesk.contracts import ActionRequest, DuplicateReport, TicketWorkflowInput
from helpdesk.domain import (
    ATTRIBUTE_KEY_MAX_LENGTH,
    ATTRIBUTES_MAX_BYTES,
    ATTRIBUTES_MAX_DEPTH,
    ATTRIBUTES_MAX_KEYS,
    SpecialistModel,
    TicketIntake,
)
from helpdesk.roster import parse_roster
from helpdesk.sla import DEFAULT_POLICY


def intake_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Lobby returns 502 for all players in EU",
        "description": "Since 14:02 UTC the lobby API answers 502.\n\tEvery call.\r\n",
        "channel": "monitoring",
        "reporter": {
            "kind": "operator",
            "name": "Ana Kovac",
            "contact": "ana.kovac@example.com",
        },
        "external_ref": "alert-7f3a91",
        "attributes": {"region": "eu-west", "hosts": [{"name": "lb-1", "up": False}]},
    }
    body.update(overrides)
    return body


def specialist_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "ana.k",
        "name": "Ana Kovac",
        "roles": ["devops_engineer"],
        "skills": ["infrastructure"],
        "contact": "ana.kovac@example.com",
    }
    body.update(overrides)
    return body


def with_value(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Return a copy of `body` with the dotted `path` set to `value`."""
    changed = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[part]
    target[last] = value
    return changed


def value_at(body: dict[str, Any], path: str) -> Any:
    value: Any = body
    for part in path.split("."):
        value = value[part]
    return value


def problems(model: type[BaseModel], data: Any) -> list[tuple[str, str]]:
    """Return (dotted location, message) of each error validating `data`."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [
        (
            ".".join(str(part) for part in error["loc"]),
            error["msg"].removeprefix("Value error, "),
        )
        for error in caught.value.errors()
    ]


# Control characters


def test_valid_intake_is_accepted_unchanged() -> None:
    body = intake_body()

    intake = TicketIntake.model_validate(body)

    assert intake.model_dump(mode="json", exclude_none=True) == body


@pytest.mark.parametrize(
    "path",
    ["title", "description", "reporter.name", "reporter.contact", "external_ref"],
)
def test_intake_rejects_nul_in_text_field(path: str) -> None:
    body = with_value(intake_body(), path, "Lobby\x00down")
    field = path.rsplit(".", 1)[-1]

    [(location, message)] = problems(TicketIntake, body)

    assert location == path
    assert message == (
        f"{field} contains a NUL character (U+0000); remove control characters"
    )


@pytest.mark.parametrize("character", ["\x01", "\x07", "\x0b", "\x0c", "\x1b", "\x1f"])
def test_intake_rejects_other_control_characters(character: str) -> None:
    body = intake_body(description=f"before{character}after")

    [(location, message)] = problems(TicketIntake, body)

    assert location == "description"
    assert f"a control character (U+{ord(character):04X})" in message


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        ({"region": "eu\x00west"}, "attributes.region contains a NUL character"),
        (
            {"hosts": [{"name": "lb-1"}, {"name": "lb\x00-2"}]},
            "attributes.hosts[1].name contains a NUL character",
        ),
        ({"re\x00gion": "eu"}, r"key 're\x00gion' in attributes contains a NUL"),
        (
            {"env": {"ta\x1bg": 1}},
            r"key 'ta\x1bg' in attributes.env contains a control character",
        ),
        ({"note": "a\ud800b"}, "attributes.note contains an unpaired surrogate"),
    ],
)
def test_intake_rejects_bad_text_in_attributes(
    attributes: dict[str, Any], named: str
) -> None:
    body = intake_body(attributes=attributes)

    [(location, message)] = problems(TicketIntake, body)

    assert location == "attributes"
    assert message.startswith(named)


def test_action_rejects_nul_in_note_actor_and_assignee() -> None:
    body = {
        "action": "reassign",
        "actor": "ana\x00.k",
        "note": "handing over\x00",
        "assignee": "dev\x00.ada",
    }

    found = problems(ActionRequest, body)

    assert [location for location, _ in found] == ["actor", "note", "assignee"]
    for _, message in found:
        assert "contains a NUL character (U+0000)" in message


@pytest.mark.parametrize("path", ["name", "contact"])
def test_specialist_rejects_nul(path: str) -> None:
    body = specialist_body(**{path: "Ana\x00"})

    [(location, message)] = problems(SpecialistModel, body)

    assert location == path
    assert message.startswith(f"{path} contains a NUL character")


@pytest.mark.parametrize("path", ["external_ref", "channel", "title"])
def test_duplicate_report_rejects_nul(path: str) -> None:
    body = {
        "external_ref": "alert-7f3a91",
        "channel": "monitoring",
        "title": "Lobby returns 502",
        "reported_at": "2026-12-04T16:10:20Z",
    }

    [(location, _)] = problems(DuplicateReport, with_value(body, path, "x\x00"))

    assert location == path


# Attribute bounds


def nested(levels: int, *, wrap_in_object: bool) -> dict[str, Any]:
    """Return attributes `levels` deep, the attributes object included."""
    value: Any = "bottom"
    for _ in range(levels - 1):
        value = {"next": value} if wrap_in_object else [value]
    return {"deep": value}


def test_attributes_at_the_bounds_are_accepted() -> None:
    long_key = "k" * ATTRIBUTE_KEY_MAX_LENGTH
    attributes = {
        long_key: "v",
        **nested(ATTRIBUTES_MAX_DEPTH, wrap_in_object=True),
        **{f"key{index}": index for index in range(ATTRIBUTES_MAX_KEYS - 6)},
    }

    intake = TicketIntake.model_validate(intake_body(attributes=attributes))

    assert intake.attributes == attributes


def test_attributes_with_too_many_keys_are_rejected() -> None:
    nested = {f"key{index}": index for index in range(ATTRIBUTES_MAX_KEYS)}

    [(location, message)] = problems(
        TicketIntake, intake_body(attributes={"nested": nested})
    )

    assert location == "attributes"
    assert message.startswith(
        f"attributes have {ATTRIBUTES_MAX_KEYS + 1} keys; "
        f"the maximum is {ATTRIBUTES_MAX_KEYS}"
    )


def test_attribute_key_too_long_is_rejected() -> None:
    key = "k" * (ATTRIBUTE_KEY_MAX_LENGTH + 1)

    [(_, message)] = problems(TicketIntake, intake_body(attributes={key: 1}))

    assert f"is {ATTRIBUTE_KEY_MAX_LENGTH + 1} characters long" in message
    assert f"the maximum is {ATTRIBUTE_KEY_MAX_LENGTH}" in message


@pytest.mark.parametrize("wrap_in_object", [True, False])
def test_attributes_nested_too_deep_are_rejected(wrap_in_object: bool) -> None:
    attributes = nested(ATTRIBUTES_MAX_DEPTH + 1, wrap_in_object=wrap_in_object)

    [(_, message)] = problems(TicketIntake, intake_body(attributes=attributes))

    assert f"nests deeper than {ATTRIBUTES_MAX_DEPTH} levels" in message


def test_attributes_over_the_size_limit_are_rejected() -> None:
    attributes = {"blob": "é" * (ATTRIBUTES_MAX_BYTES // 2)}

    [(_, message)] = problems(TicketIntake, intake_body(attributes=attributes))

    assert message.startswith("attributes are ")
    assert f"bytes as JSON; the maximum is {ATTRIBUTES_MAX_BYTES}" in message


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_attributes_reject_non_finite_numbers(number: float) -> None:
    [(_, message)] = problems(
        TicketIntake, intake_body(attributes={"load": [1.5, number]})
    )

    assert message.startswith("attributes.load[1] is ")
    assert "not a finite number" in message


def test_attributes_reject_values_that_are_not_json() -> None:
    attributes = {"seen": datetime(2026, 12, 4, tzinfo=UTC)}

    [(_, message)] = problems(TicketIntake, intake_body(attributes=attributes))

    assert message.startswith("attributes.seen is a datetime; use JSON values")


# Workflow input


def test_workflow_input_survives_json_round_trip() -> None:
    # The workflow decodes its input from JSON on every replay, so a valid
    # input must validate again to the same value.
    workflow_input = TicketWorkflowInput(
        ticket_id="HD-4F7K2Q",
        intake=TicketIntake.model_validate(intake_body()),
        registered_at=datetime(2026, 12, 4, 16, 10, tzinfo=UTC),
        policy=DEFAULT_POLICY,
    )

    dumped = workflow_input.model_dump_json()

    assert TicketWorkflowInput.model_validate_json(dumped) == workflow_input


# Surrounding whitespace


@pytest.mark.parametrize(
    "path",
    ["title", "reporter.name", "reporter.contact", "external_ref"],
)
def test_intake_strips_surrounding_whitespace(path: str) -> None:
    body = intake_body()
    original = TicketIntake.model_validate(body)
    padded = with_value(body, path, " \t" + value_at(body, path) + " \n")

    intake = TicketIntake.model_validate(padded)

    assert intake == original


@pytest.mark.parametrize(
    "path",
    ["title", "reporter.name", "reporter.contact", "external_ref"],
)
@pytest.mark.parametrize("blank", ["", "    ", "\t\r\n", "\u00a0\u3000"])
def test_intake_rejects_blank_text(path: str, blank: str) -> None:
    body = with_value(intake_body(), path, blank)
    field = path.rsplit(".", 1)[-1]

    [(location, message)] = problems(TicketIntake, body)

    assert location == path
    assert message == f"{field} must not be empty or only whitespace"


def test_intake_keeps_whitespace_inside_description() -> None:
    description = "\n  first line\n\tsecond line\n"

    intake = TicketIntake.model_validate(intake_body(description=description))

    assert intake.description == description


def test_title_length_is_counted_after_strip() -> None:
    title = "x" * 200

    intake = TicketIntake.model_validate(intake_body(title=f"  {title}  "))

    assert intake.title == title


def test_specialist_rejects_blank_name() -> None:
    [(location, message)] = problems(SpecialistModel, specialist_body(name="   "))

    assert location == "name"
    assert message == "name must not be empty or only whitespace"


def test_specialist_name_and_contact_are_stripped() -> None:
    body = specialist_body(name="  Ana Kovac ", contact=" ana.kovac@example.com\n")

    specialist = SpecialistModel.model_validate(body)

    assert specialist.name == "Ana Kovac"
    assert specialist.contact == "ana.kovac@example.com"


def test_action_strips_actor_and_assignee() -> None:
    body = {"action": "reassign", "actor": " ana.k ", "assignee": "dev.ada\n"}

    request = ActionRequest.model_validate(body)

    assert request.actor == "ana.k"
    assert request.assignee == "dev.ada"


@pytest.mark.parametrize("field", ["actor", "assignee"])
def test_action_rejects_blank_actor_and_assignee(field: str) -> None:
    body = {"action": "reassign", "actor": "ana.k", "assignee": "dev.ada"}
    body[field] = "  "

    [(location, message)] = problems(ActionRequest, body)

    assert location == field
    assert message == f"{field} must not be empty or only whitespace"


def test_duplicate_report_strips_title_and_external_ref() -> None:
    body = {
        "external_ref": " alert-7f3a91 ",
        "channel": "monitoring",
        "title": "Lobby returns 502\n",
        "reported_at": "2026-12-04T16:10:20Z",
    }

    report = DuplicateReport.model_validate(body)

    assert report.external_ref == "alert-7f3a91"
    assert report.title == "Lobby returns 502"


# Specialists


def test_specialist_roles_and_skills_are_deduplicated_in_order() -> None:
    body = specialist_body(
        roles=["devops_engineer", "support_engineer", "devops_engineer"],
        skills=["security", "infrastructure", "security", "security"],
    )

    specialist = SpecialistModel.model_validate(body)

    assert [role.value for role in specialist.roles] == [
        "devops_engineer",
        "support_engineer",
    ]
    assert [skill.value for skill in specialist.skills] == [
        "security",
        "infrastructure",
    ]


@pytest.mark.parametrize(
    "specialist_id", ["Ana.K", "-ana", ".ana", "ana k", "ana/k", "ana\n", "ana\x00"]
)
def test_specialist_id_error_explains_the_form(specialist_id: str) -> None:
    [(location, message)] = problems(SpecialistModel, specialist_body(id=specialist_id))

    assert location == "id"
    assert message == (
        "id must be lowercase letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    )


@pytest.mark.parametrize("specialist_id", ["ana.k", "0ncall-devops_1", "a"])
def test_specialist_id_in_the_form_is_accepted(specialist_id: str) -> None:
    specialist = SpecialistModel.model_validate(specialist_body(id=specialist_id))

    assert specialist.id == specialist_id


def test_specialist_id_pattern_is_in_the_schema() -> None:
    schema = SpecialistModel.model_json_schema()

    assert schema["properties"]["id"]["pattern"] == r"^[a-z0-9][a-z0-9._-]*$"


# Booleans


@pytest.mark.parametrize("value", ["yes", "true", "no", 1, 0, "1"])
def test_action_passed_must_be_a_boolean(value: Any) -> None:
    body = {"action": "verify", "actor": "ana.k", "passed": value}

    [(location, message)] = problems(ActionRequest, body)

    assert location == "passed"
    assert message == "Input should be a valid boolean"


@pytest.mark.parametrize("value", [True, False])
def test_action_passed_accepts_json_booleans(value: bool) -> None:
    body = {"action": "verify", "actor": "ana.k", "passed": value}

    request = ActionRequest.model_validate_json(json.dumps(body))

    assert request.passed is value


@pytest.mark.parametrize("value", ["yes", "false", 1])
def test_specialist_on_shift_must_be_a_boolean(value: Any) -> None:
    [(location, message)] = problems(SpecialistModel, specialist_body(on_shift=value))

    assert location == "on_shift"
    assert message == "Input should be a valid boolean"


def test_roster_on_shift_accepts_yaml_booleans() -> None:
    text = """\
specialists:
  - {id: ann, name: Ann, roles: [support_engineer], on_shift: false}
  - {id: bob, name: Bob, roles: [support_engineer], on_shift: no}
"""
    roster = parse_roster(text)

    assert [person.on_shift for person in roster.specialists] == [False, False]


def test_roster_on_shift_rejects_quoted_text() -> None:
    text = """\
specialists:
  - {id: ann, name: Ann, roles: [support_engineer], on_shift: "false"}
"""
    with pytest.raises(ConfigFileError, match="specialists.0.on_shift"):
        parse_roster(text)
