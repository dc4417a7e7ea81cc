"""routing.yaml and roster.yaml: the built-in files and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk.config import ConfigFileError
from helpdesk.domain import Category, Role
from helpdesk.roster import load_roster, parse_roster
from helpdesk.routing import load_routing, parse_routing

VALID_ROUTES = """\
routes:
  infrastructure: {role: devops_engineer}
  payment: {role: backend_developer}
  api_integration: {role: integration_engineer}
  provider: {role: integration_engineer}
  security: {role: devops_engineer, also_notify: [support_manager]}
  user_system: {role: support_engineer}
"""


def test_builtin_routing_matches_support_structure() -> None:
    routing = load_routing()

    assert {c: routing.route(c).role for c in Category} == {
        Category.INFRASTRUCTURE: Role.DEVOPS_ENGINEER,
        Category.PAYMENT: Role.BACKEND_DEVELOPER,
        Category.API_INTEGRATION: Role.INTEGRATION_ENGINEER,
        Category.PROVIDER: Role.INTEGRATION_ENGINEER,
        Category.SECURITY: Role.DEVOPS_ENGINEER,
        Category.USER_SYSTEM: Role.SUPPORT_ENGINEER,
    }
    assert routing.route(Category.SECURITY).also_notify == [Role.SUPPORT_MANAGER]
    assert routing.route(Category.PAYMENT).also_notify == []


def test_routing_file_from_path(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(
        VALID_ROUTES.replace("role: backend_developer", "role: support_engineer")
    )

    routing = load_routing(path)

    assert routing.route(Category.PAYMENT).role == Role.SUPPORT_ENGINEER


def test_routing_missing_category_is_named() -> None:
    text = "\n".join(
        line for line in VALID_ROUTES.splitlines() if "provider" not in line
    )

    with pytest.raises(ConfigFileError, match="no route for provider"):
        parse_routing(text)


def test_routing_unknown_role_names_line() -> None:
    text = VALID_ROUTES.replace("role: backend_developer", "role: cashier")

    with pytest.raises(ConfigFileError) as caught:
        parse_routing(text, source="routing.yaml")

    assert "routing.yaml:3: routes.payment.role" in str(caught.value)


def test_routing_unknown_category_names_line() -> None:
    text = VALID_ROUTES + "  lottery: {role: support_engineer}\n"

    with pytest.raises(ConfigFileError) as caught:
        parse_routing(text, source="routing.yaml")

    assert "routing.yaml:8: routes.lottery" in str(caught.value)


def test_routing_unknown_field_is_rejected() -> None:
    text = VALID_ROUTES.replace(
        "{role: support_engineer}", "{role: support_engineer, team: a}"
    )

    with pytest.raises(ConfigFileError, match="routes.user_system.team"):
        parse_routing(text)


def test_routing_invalid_yaml_names_line() -> None:
    with pytest.raises(ConfigFileError, match=r"routing.yaml:2: invalid YAML"):
        parse_routing("routes:\n\tpayment: x\n", source="routing.yaml")


def test_routing_must_be_mapping() -> None:
    with pytest.raises(ConfigFileError, match="must be a YAML mapping"):
        parse_routing("- payment\n")


def test_routing_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read the routing file"):
        load_routing(tmp_path / "absent.yaml")


def test_builtin_roster_covers_every_role() -> None:
    roster = load_roster()
    on_shift_roles = {
        role
        for person in roster.specialists
        if person.on_shift
        for role in person.roles
    }

    assert 12 <= len(roster.specialists) <= 15
    assert on_shift_roles == set(Role)
    assert any(not person.on_shift for person in roster.specialists)
    assert all(person.contact for person in roster.specialists)


def test_roster_duplicate_id_is_rejected() -> None:
    text = """\
specialists:
  - {id: ann, name: Ann, roles: [support_engineer]}
  - {id: ann, name: Ann Again, roles: [devops_engineer]}
"""
    with pytest.raises(ConfigFileError, match="'ann' appears twice"):
        parse_roster(text)


def test_roster_invalid_specialist_names_line() -> None:
    text = """\
specialists:
  - id: ann
    name: Ann
    roles: [support_engineer]
    max_open_tickets: 0
"""
    with pytest.raises(ConfigFileError) as caught:
        parse_roster(text, source="roster.yaml")

    assert "roster.yaml:5: specialists.0.max_open_tickets" in str(caught.value)


def test_routing_duplicate_category_names_line() -> None:
    text = VALID_ROUTES + "  payment: {role: support_engineer}\n"

    with pytest.raises(ConfigFileError) as caught:
        parse_routing(text, source="routing.yaml")

    assert str(caught.value) == (
        "routing.yaml:8: duplicate key 'payment' in the routing file "
        "(first at line 3); keep one of them"
    )


def test_routing_file_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_bytes(VALID_ROUTES.encode() + b"# r\xe9seau\n")

    with pytest.raises(ConfigFileError) as caught:
        load_routing(path)

    assert str(caught.value).startswith(
        f"{path}:8: the routing file is not valid UTF-8"
    )


def test_roster_duplicate_field_names_line() -> None:
    text = """\
specialists:
  - id: ann
    name: Ann
    roles: [support_engineer]
    name: Annie
"""
    with pytest.raises(ConfigFileError, match="roster.yaml:5: duplicate key 'name'"):
        parse_roster(text, source="roster.yaml")
