"""The classification rules file: its schema, checks and loader.

The rules live in YAML (`helpdesk/config/classification.yaml` by default) so
support leads can read and change the signal words and the priority matrix.
Every check here fails with a message naming the line and the fix.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from helpdesk.classification.text import fold
from helpdesk.config import builtin_path, load_yaml_model, parse_yaml_model
from helpdesk.domain import Category, Channel, Priority, ReporterKind, TicketType

RULES_FILE = "classification.yaml"

# ISO 639-1 codes that the language detector (lingua) and the rules know.
SUPPORTED_LANGUAGES = frozenset(
    {"en", "ru", "es", "pl", "nl", "id", "de", "pt", "tr", "uk", "fr", "it"}
)
# Key for words that are the same in every language (brand names, codes).
ANY_LANGUAGE = "any"

Dimension = Literal["category", "nature", "impact", "urgency", "flag"]
ImpactLevel = Literal["platform", "segment", "single"]
UrgencyLevel = Literal["down", "degraded", "request"]
IMPACT_LEVELS: tuple[ImpactLevel, ...] = ("platform", "segment", "single")
URGENCY_LEVELS: tuple[UrgencyLevel, ...] = ("down", "degraded", "request")
NATURES = ("request", "fault", "integration")
Flag = Literal[
    "compromise",
    "core_service",
    "money",
    "responsible_gambling",
    "partner_side",
    "infrastructure_vendor",
    "our_side",
    "your_side",
    "operational_request",
    "no_deadline",
    "rest_working",
]
FLAGS: tuple[Flag, ...] = get_args(Flag)

_Key = TypeVar("_Key")

_TERM_WORD = re.compile(r"\w+\*?", re.UNICODE)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def term_words(term: str) -> list[str]:
    """Split a term into folded words the way ticket text is split.

    Punctuation separates words, as in ticket text, so "can't" is the phrase
    "can t" and "platform-wide" is "platform wide".
    """
    return _TERM_WORD.findall(fold(term))


def _check_term(term: str) -> str:
    """Reject a signal term that could never match, with the reason."""
    if not term.strip():
        raise ValueError("empty signal term: remove it")
    if not re.search(r"\w", term):
        return term  # symbols such as emoji, matched as they are written
    if re.search(r"\*(?=\S)|(?<!\w)\*", term):
        raise ValueError(
            f"signal term {term!r}: '*' may only end a word, meaning "
            "'starts with' (\"payment*\")"
        )
    first = term_words(term)[0]
    if first.endswith("*") and len(first) < 4:
        raise ValueError(
            f"signal term {term!r}: a '*' stem at the start needs at least 3 "
            "letters, or it matches too many words"
        )
    return term


TermsByLanguage = dict[str, list[str]]


class SignalGroup(Strict):
    """Words that point to one decision, by weight tier and language.

    Each tier maps an ISO 639-1 code (or `any`) to terms. A term is a word or
    a phrase; a trailing `*` on a word means "starts with", for inflected
    languages ("платеж*" matches "платежи", "платежа").
    """

    strong: TermsByLanguage = Field(default_factory=dict)
    normal: TermsByLanguage = Field(default_factory=dict)
    weak: TermsByLanguage = Field(default_factory=dict)

    @field_validator("strong", "normal", "weak")
    @classmethod
    def _terms(cls, value: TermsByLanguage) -> TermsByLanguage:
        for terms in value.values():
            for term in terms:
                _check_term(term)
        return value

    def tiers(self) -> dict[str, TermsByLanguage]:
        return {"strong": self.strong, "normal": self.normal, "weak": self.weak}


class CategoryRule(Strict):
    type: TicketType = Field(description="type of a fault in this category")
    integration_type: TicketType | None = Field(
        default=None,
        description="type when integration wording is strong (API, webhook)",
    )
    keeps_type_on_request: bool = Field(
        default=False,
        description="a request that also describes a fault keeps this type",
    )
    preferred_over: list[Category] = Field(
        default_factory=list,
        description="categories this one wins over once it reaches preferred_at",
    )
    preferred_at: float = Field(default=0.0, ge=0)
    preferred_signals: int = Field(
        default=0,
        ge=0,
        description="distinct strong terms or patterns needed to win by preferred_over",
    )
    signals: SignalGroup


class LevelRule(Strict):
    min_score: float = Field(ge=0)
    signals: SignalGroup


class NatureRule(Strict):
    min_score: float = Field(ge=0)
    signals: SignalGroup


class FlagRule(Strict):
    min_score: float = Field(ge=0)
    signals: SignalGroup
    adds: dict[str, float] = Field(
        default_factory=dict, description="scores added when the flag is raised"
    )

    @field_validator("adds")
    @classmethod
    def _adds(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_adds(value)


class ImpactRules(Strict):
    levels: dict[ImpactLevel, LevelRule]
    by_reporter: dict[ReporterKind, ImpactLevel]


class UrgencyRules(Strict):
    levels: dict[UrgencyLevel, LevelRule]
    default: UrgencyLevel


def _check_adds(adds: dict[str, float]) -> dict[str, float]:
    valid: dict[str, set[str]] = {
        "category": {c.value for c in Category},
        "nature": set(NATURES),
        "impact": set(IMPACT_LEVELS),
        "urgency": set(URGENCY_LEVELS),
        "flag": set(FLAGS),
    }
    for key in adds:
        dimension, _, name = key.partition(".")
        if dimension not in valid or name not in valid[dimension]:
            raise ValueError(
                f"unknown signal {key!r}: use one of "
                + ", ".join(f"{d}.<{'|'.join(sorted(valid[d]))}>" for d in valid)
            )
    return adds


class PatternRule(Strict):
    """A regular expression over the folded text and the scores it adds.

    A named group `code` in the expression groups the reasons by its value,
    so a log with twelve 503s reads "HTTP 503 x12".
    """

    name: str = Field(min_length=1)
    regex: str = Field(min_length=1)
    adds: dict[str, float]

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        return value

    @field_validator("adds")
    @classmethod
    def _adds(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_adds(value)

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.regex)


class AttributeRules(Strict):
    """Intake attribute keys that carry a count of affected players."""

    affected_count_keys: list[str] = Field(default_factory=list)
    platform_at_least: int = Field(ge=1)
    segment_at_least: int = Field(ge=1)


class Floor(Strict):
    """A priority that a ticket never goes below when its condition holds."""

    name: str = Field(min_length=1)
    priority: Priority
    flag: str | None = None
    unless_flag: str | None = Field(
        default=None, description="flag whose presence cancels the floor"
    )
    impact: list[ImpactLevel] | None = None
    urgency: list[UrgencyLevel] | None = None
    min_urgency_signals: int = Field(
        default=0,
        ge=0,
        description="distinct words or patterns the chosen urgency level needs",
    )

    @field_validator("flag", "unless_flag")
    @classmethod
    def _known_flag(cls, value: str | None) -> str | None:
        if value is not None and value not in FLAGS:
            raise ValueError(f"unknown flag {value!r}: use one of {', '.join(FLAGS)}")
        return value

    @model_validator(mode="after")
    def _has_condition(self) -> Floor:
        if self.flag is None and self.impact is None and self.urgency is None:
            raise ValueError(
                f"floor {self.name!r} has no condition: set flag, impact or urgency"
            )
        return self


class PriorityRules(Strict):
    matrix: dict[ImpactLevel, dict[UrgencyLevel, Priority]]
    floors: list[Floor] = Field(default_factory=list)
    plain_request: Priority | None = Field(
        default=None,
        description="priority of a service request that raises no "
        "operational_request flag (no deadline, no production effect); "
        "floors still apply after it",
    )

    @field_validator("matrix")
    @classmethod
    def _complete(
        cls, value: dict[ImpactLevel, dict[UrgencyLevel, Priority]]
    ) -> dict[ImpactLevel, dict[UrgencyLevel, Priority]]:
        missing = [
            f"{impact} x {urgency}"
            for impact in IMPACT_LEVELS
            for urgency in URGENCY_LEVELS
            if urgency not in value.get(impact, {})
        ]
        if missing:
            raise ValueError(
                "the priority matrix has no cell for "
                + ", ".join(missing)
                + ": give every impact level a priority for every urgency level"
            )
        return value


class LanguageDetection(Strict):
    accuracy: Literal["low", "high"] = "low"
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    sample_chars: int = Field(default=1000, ge=50, le=20_000)
    min_letters: int = Field(default=10, ge=1)


class Limits(Strict):
    max_text_chars: int = Field(ge=200, le=200_000)
    max_trace_lines: int = Field(ge=0)
    max_attribute_chars: int = Field(ge=0)


def _category_only() -> list[Dimension]:
    return ["category"]


class Matching(Strict):
    title_weight: float = Field(gt=0)
    repeat_cap: int = Field(ge=1, le=100)
    fuzzy_min_length: int = Field(ge=4)
    fuzzy_max_distance: int = Field(ge=0, le=2)
    fuzzy_dimensions: list[Dimension] = Field(default_factory=_category_only)


class Tiers(Strict):
    strong: float = Field(gt=0)
    normal: float = Field(gt=0)
    weak: float = Field(gt=0)


class Fallback(Strict):
    type: TicketType
    category: Category
    priority: Priority


class Triage(Strict):
    min_category_score: float = Field(ge=0)
    below_confidence: float = Field(ge=0, le=1)


class Priors(Strict):
    reporter: dict[ReporterKind, dict[str, float]] = Field(default_factory=dict)
    channel: dict[Channel, dict[str, float]] = Field(default_factory=dict)

    @field_validator("reporter", "channel")
    @classmethod
    def _adds(cls, value: dict[_Key, dict[str, float]]) -> dict[_Key, dict[str, float]]:
        for adds in value.values():
            _check_adds(adds)
        return value


class Ownership(Strict):
    """Thresholds for moving a game partner's own fault to the provider category."""

    min_provider_score: float = Field(
        default=3.0,
        ge=0,
        description="provider category score that shows the partner runs games",
    )


class ModelSettings(Strict):
    """The text model learned from labelled tickets, and how it meets the rules."""

    enabled: bool = True
    regularisation: float = Field(
        default=10.0,
        gt=0,
        description="C of the logistic regression: higher fits the examples closer",
    )
    char_ngrams: tuple[int, int] = (2, 5)
    max_chars: int = Field(default=3000, ge=100, le=200_000)
    rules_weight: dict[Literal["type", "category", "priority"], float] = Field(
        default_factory=dict,
        description="weight of the rules' decision against the model's "
        "probabilities, 0 (model only) to 1 (rules only); 0.5 if unset",
    )
    balanced: list[Literal["type", "category", "priority"]] = Field(
        default_factory=list,
        description="fields whose labels weigh inversely to how often the "
        "examples use them, so a common label does not win every close call",
    )
    p1_miss_cost: float = Field(
        default=1.5,
        ge=0,
        description="extra cost of parking a P1 at P3 or P4, on top of an "
        "ordinary miss; higher keeps more doubtful tickets at P2",
    )
    floors_after_blend: list[str] | None = Field(
        default=None,
        description="names of the priority floors that hold after the blend; "
        "all of them when unset",
    )
    joint: bool = Field(
        default=True,
        description="decide type and category together, as a pair the "
        "examples use, rather than each on its own",
    )
    keep_floors: bool = Field(
        default=True,
        description="the priority floors of the rules hold after the blend too",
    )
    vague_min_probability: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="model probability needed to classify a ticket in which "
        "the rules find too little to go on",
    )

    @field_validator("char_ngrams")
    @classmethod
    def _ngrams(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 8:
            raise ValueError(
                "char_ngrams must be [shortest, longest] with 1 <= shortest <= "
                "longest <= 8, for example [2, 5]"
            )
        return value

    @field_validator("rules_weight")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if not 0 <= weight <= 1:
                raise ValueError(
                    f"rules_weight.{name} must be from 0 to 1, not {weight}"
                )
        return value

    def weight_of_rules(self, name: str) -> float:
        return self.rules_weight.get(name, 0.5)  # type: ignore[call-overload]


class ClassificationRules(Strict):
    """The whole rules file."""

    version: int = Field(ge=1)
    languages: list[str] = Field(min_length=1)
    language_detection: LanguageDetection = Field(default_factory=LanguageDetection)
    limits: Limits
    matching: Matching
    tiers: Tiers
    fallback: Fallback
    triage: Triage
    categories: dict[Category, CategoryRule]
    natures: dict[Literal["request", "fault", "integration"], NatureRule]
    flags: dict[Flag, FlagRule]
    ownership: Ownership = Field(default_factory=Ownership)
    impact: ImpactRules
    urgency: UrgencyRules
    patterns: list[PatternRule] = Field(default_factory=list)
    priors: Priors = Field(default_factory=Priors)
    attributes: AttributeRules
    priority: PriorityRules
    model: ModelSettings = Field(default_factory=ModelSettings)

    @field_validator("languages")
    @classmethod
    def _supported(cls, value: list[str]) -> list[str]:
        unknown = [code for code in value if code not in SUPPORTED_LANGUAGES]
        if unknown:
            raise ValueError(
                f"unsupported language code {', '.join(unknown)}: use ISO 639-1 "
                f"codes from {', '.join(sorted(SUPPORTED_LANGUAGES))}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ClassificationRules:
        missing = [c.value for c in Category if c not in self.categories]
        if missing:
            raise ValueError(f"categories: no rule for {', '.join(missing)}")
        for name in NATURES:
            if name not in self.natures:
                raise ValueError(f"natures: no rule for {name!r}")
        for name in FLAGS:
            if name not in self.flags:
                raise ValueError(f"flags: no rule for {name!r}")
        for what, levels, names in (
            ("impact", self.impact.levels, IMPACT_LEVELS),
            ("urgency", self.urgency.levels, URGENCY_LEVELS),
        ):
            absent = [name for name in names if name not in levels]
            if absent:
                raise ValueError(f"{what}.levels: no rule for {', '.join(absent)}")
        floor_names = {floor.name for floor in self.priority.floors}
        unknown_floors = [
            name
            for name in self.model.floors_after_blend or []
            if name not in floor_names
        ]
        if unknown_floors:
            raise ValueError(
                f"model.floors_after_blend: no priority floor named "
                f"{', '.join(repr(n) for n in unknown_floors)}; use names from "
                f"priority.floors ({', '.join(sorted(floor_names))})"
            )
        known = {*self.languages, ANY_LANGUAGE}
        for group_name, group in self.signal_groups().items():
            for tier, by_language in group.tiers().items():
                stray = sorted(set(by_language) - known)
                if stray:
                    raise ValueError(
                        f"{group_name}: {tier} lists terms for language "
                        f"{', '.join(stray)}, which is not in 'languages' "
                        f"({', '.join(self.languages)}); add it there or use "
                        f"'{ANY_LANGUAGE}'"
                    )
        return self

    def signal_groups(self) -> dict[str, SignalGroup]:
        """Return every signal group under its key ("category.payment")."""
        groups: dict[str, SignalGroup] = {}
        for category, rule in self.categories.items():
            groups[f"category.{category.value}"] = rule.signals
        for nature, nature_rule in self.natures.items():
            groups[f"nature.{nature}"] = nature_rule.signals
        for flag, flag_rule in self.flags.items():
            groups[f"flag.{flag}"] = flag_rule.signals
        for impact, level in self.impact.levels.items():
            groups[f"impact.{impact}"] = level.signals
        for urgency, level in self.urgency.levels.items():
            groups[f"urgency.{urgency}"] = level.signals
        return groups


def parse_rules(
    text: str, source: str = "<classification rules>"
) -> ClassificationRules:
    """Parse and check rules YAML; raise ConfigFileError naming the line."""
    return parse_yaml_model(
        text, ClassificationRules, source=source, what="classification rules file"
    )


def load_rules(path: str | Path | None = None) -> ClassificationRules:
    """Read and check a rules file; the built-in one when `path` is None."""
    return load_yaml_model(
        path or builtin_path(RULES_FILE),
        ClassificationRules,
        what="classification rules file",
    )
