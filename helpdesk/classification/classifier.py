"""The ticket classifier: rules, blended with a text model.

The rules score signal groups (categories, the nature of the ticket,
impact and urgency levels, flags) from the ticket's words, regular
expressions over its text, its reporter kind and channel, and its
attributes. Then it decides in this order:

1. category: the highest-scoring category, or the fallback when no category
   has enough evidence;
2. type: a request when request wording outweighs fault wording, otherwise
   the category's type (or its integration type when integration wording
   dominates);
3. priority: the impact x urgency matrix, then floors such as "an active
   compromise is P1".

Then the text model (`model.py`), trained on labelled tickets, gives its
probabilities for each field. Type and category are chosen together as
the pair with the highest product of blended scores (`rules_weight` for
the rules' label plus the rest times the model's probability), among the
pairs the examples use. Priority takes the highest blended score, then
the P1 miss cost and the rules' priority floors may raise it.

Every decision keeps the evidence that led to it as readable reasons.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpdesk.classification.labelled import FIELDS
from helpdesk.classification.language import LanguageGuesser
from helpdesk.classification.model import PAIR, FieldGuess, TextModel, load_or_train
from helpdesk.classification.rules import (
    ClassificationRules,
    Floor,
    ImpactLevel,
    UrgencyLevel,
)
from helpdesk.classification.signals import GroupScore, Matcher
from helpdesk.classification.text import PreparedText, prepare
from helpdesk.domain import (
    Category,
    Classification,
    Priority,
    ReporterKind,
    TicketIntake,
    TicketType,
)

# Score at which evidence counts as fairly strong (confidence ~0.63).
_EVIDENCE_SCALE = 4.0


def _strength(score: float) -> float:
    return 1.0 - math.exp(-max(score, 0.0) / _EVIDENCE_SCALE)


@dataclass
class _Scores:
    groups: dict[str, GroupScore] = field(default_factory=dict)
    # Names of the patterns that added a positive score, by group key.
    patterns: dict[str, set[str]] = field(default_factory=dict)

    def get(self, key: str) -> float:
        group = self.groups.get(key)
        return group.score if group else 0.0

    def group(self, key: str) -> GroupScore:
        return self.groups.setdefault(key, GroupScore())

    def add(self, adds: Mapping[str, float], reason: str, amount: float = 1.0) -> None:
        for key, weight in adds.items():
            self.group(key).add(weight * amount, reason)

    def describe(self, key: str) -> str:
        group = self.groups.get(key)
        return group.describe() if group else "no signal"


@dataclass
class _Decision:
    value: Any
    confidence: float
    reason: str
    # The priority floors whose conditions held.
    floors: tuple[Floor, ...] = ()


_LABEL_TYPES: dict[str, type[TicketType] | type[Category] | type[Priority]] = {
    "type": TicketType,
    "category": Category,
    "priority": Priority,
}


class Classifier:
    """A ticket classifier for one rules file, safe to share between threads.

    `examples` are the labelled files and folders the text model learns
    from; None leaves the model out (rules only), as does `model.enabled:
    false` in the rules. `cache_dir` keeps the trained model between
    processes (None: train in every process).
    """

    def __init__(
        self,
        rules: ClassificationRules,
        examples: Sequence[Path] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.rules = rules
        self.matcher = Matcher(rules.signal_groups(), rules.tiers, rules.matching)
        self.languages = LanguageGuesser(rules.languages, rules.language_detection)
        self.examples = list(examples) if rules.model.enabled and examples else []
        self.cache_dir = cache_dir
        self._model: TextModel | None = None
        self._model_lock = threading.Lock()

    def preload(self) -> None:
        """Load the language models and train the text model now, not on the
        first ticket. Raises ConfigFileError for a broken examples file."""
        self.languages.load()
        self.text_model()

    def text_model(self) -> TextModel | None:
        """Return the text model, training it on first use; None when unused."""
        if not self.examples:
            return None
        with self._model_lock:
            if self._model is None:
                self._model = load_or_train(
                    self.examples, self.rules.model, self.cache_dir
                )
            return self._model

    def classify(self, intake: TicketIntake) -> Classification:
        """Classify a ticket; values the reporter gave are kept as they are."""
        rules = self.rules
        given = {
            "type": intake.type,
            "category": intake.category,
            "priority": intake.priority,
        }
        text = prepare(
            intake.title,
            intake.description + "\n" + self._attribute_text(intake.attributes),
            max_chars=rules.limits.max_text_chars,
            max_trace_lines=rules.limits.max_trace_lines,
        )
        language = self.languages.detect(text.prose)
        reasons: list[str] = []
        if language:
            reasons.append(f"language {language.code} ({language.confidence:.2f})")
        reasons.extend(self._text_notes(text))

        if all(value is not None for value in given.values()):
            reasons.append("type, category and priority given by the reporter")
            return Classification(
                type=intake.type,
                category=intake.category,
                priority=intake.priority,
                confidence=1.0,
                reasons=reasons,
                source="reporter",
                language=language.code if language else None,
            )

        scores = _Scores(self.matcher.match(text, language.code if language else None))
        self._add_patterns(text, scores)
        self._add_priors(intake, scores)
        self._add_attribute_counts(intake.attributes, scores)
        self._add_flag_effects(scores)

        category = self._category(
            scores, intake.type, intake.category, intake.reporter.kind
        )
        ticket_type = self._type(scores, category, intake.type)
        priority = self._priority(
            scores, category, ticket_type.value, intake.priority, intake.reporter.kind
        )
        vague = scores.get(f"category.{category.value.value}") < (
            rules.triage.min_category_score
        )
        no_words = not any(ch.isalpha() for ch in intake.title + intake.description)
        if no_words:
            # Only emoji, digits and punctuation: a symbol such as 💸 may
            # match a signal, but there is no report to classify.
            category, ticket_type, priority = self._no_words(given)
            vague = True
        reasons += [category.reason, ticket_type.reason, *priority.reason.split("\n")]
        decided = {"type": ticket_type, "category": category, "priority": priority}
        model = self.text_model()
        if model is not None:
            vague = self._apply_model(
                model.predict(intake), decided, given, reasons, vague, no_words
            )
        ticket_type, category, priority = (
            decided["type"],
            decided["category"],
            decided["priority"],
        )
        confidence = (
            category.confidence * ticket_type.confidence * priority.confidence
        ) ** (1 / 3)
        needs_triage = vague or confidence < rules.triage.below_confidence
        if needs_triage:
            reasons.append(
                "needs triage: "
                + (
                    "too little to go on, safe default used"
                    if vague
                    else f"confidence {confidence:.2f} below "
                    f"{rules.triage.below_confidence:.2f}"
                )
            )
        return Classification(
            type=ticket_type.value,
            category=category.value,
            priority=priority.value,
            confidence=round(confidence, 3),
            reasons=reasons,
            needs_triage=needs_triage,
            source="classifier",
            language=language.code if language else None,
        )

    def _no_words(
        self, given: Mapping[str, Any]
    ) -> tuple[_Decision, _Decision, _Decision]:
        """Return the fallback decisions for a ticket without a single letter,
        keeping the values the reporter gave."""
        fallback = self.rules.fallback
        reason = "safe default: the ticket has no words, only symbols"
        return (
            _Decision(
                given["category"] or fallback.category, 0.1, f"category {reason}"
            ),
            _Decision(given["type"] or fallback.type, 0.1, f"type {reason}"),
            _Decision(
                given["priority"] or fallback.priority, 0.1, f"priority {reason}"
            ),
        )

    # -- the text model ---------------------------------------------------

    def _apply_model(
        self,
        guesses: Mapping[str, FieldGuess],
        decided: dict[str, _Decision],
        given: Mapping[str, Any],
        reasons: list[str],
        vague: bool,
        no_words: bool,
    ) -> bool:
        """Blend the model's guesses into `decided` and append the reasons.

        Returns whether the ticket is still vague: a vague ticket keeps the
        rules' safe default unless the model recognises its subject, and
        then the model decides alone.
        """
        recognised = vague and not no_words and self._model_sure(guesses)
        if vague and not recognised:
            reasons.append(self._describe_unsure(guesses))
            return True
        open_fields = [name for name in FIELDS if given[name] is None]
        if self.rules.model.joint and {"type", "category"} & set(open_fields):
            joint = self._blend_pair(
                decided, guesses, given, rules_count=not recognised
            )
            if joint is not None:
                decided["type"], decided["category"] = joint
                reasons.append(joint[0].reason)
                open_fields = [name for name in open_fields if name == "priority"]
        for name in open_fields:
            if name in guesses:
                decided[name] = self._blend(
                    name, decided[name], guesses[name], rules_count=not recognised
                )
                reasons.append(decided[name].reason)
        return False

    def _model_sure(self, guesses: Mapping[str, FieldGuess]) -> bool:
        """Return whether the model recognises a ticket the rules find vague.

        The examples label vague messages with the fallback, so a model that
        is sure of the fallback has recognised a vague message, not its
        subject: such a ticket still needs triage. So does one the model can
        only place in the fallback category, the catch-all for vague tickets.
        """
        category, ticket_type = guesses.get("category"), guesses.get("type")
        if category is None or ticket_type is None:
            return False
        return (
            category.probability >= self.rules.model.vague_min_probability
            and category.label != self.rules.fallback.category.value
        )

    def _describe_unsure(self, guesses: Mapping[str, FieldGuess]) -> str:
        guess = guesses.get("category")
        if guess is None:
            return "text model: no category model"
        return (
            f"text model finds no subject either: category {guess.label} "
            f"{guess.probability:.2f}"
        )

    def _blend(
        self, name: str, rule: _Decision, guess: FieldGuess, *, rules_count: bool
    ) -> _Decision:
        """Blend the rules' decision on one field with the model's probabilities.

        With `rules_count` false (the rules found too little to go on) the
        model decides alone.
        """
        settings = self.rules.model
        rule_label = str(rule.value.value)
        scores = self._field_scores(name, rule, guess, rules_count)
        best = max(scores, key=lambda label: scores[label])
        shown = ", ".join(
            f"{label} {p:.2f}" for label, p in list(guess.probabilities.items())[:2]
        )
        if not rules_count:
            reason = f"{name} {best} from the text model ({shown})"
        elif best == rule_label:
            reason = f"text model on {name}: {shown}; {best} kept"
        else:
            reason = f"{name} {best} from the text model ({shown}), not {rule_label}"
        if name == "priority":
            best, reason = self._guard_p1(best, reason, rule_label, scores)
            kept = [
                floor
                for floor in rule.floors
                if settings.keep_floors
                and (
                    settings.floors_after_blend is None
                    or floor.name in settings.floors_after_blend
                )
            ]
            strictest = min(kept, key=lambda floor: floor.priority.level, default=None)
            if (
                strictest is not None
                and strictest.priority.level < Priority(best).level
            ):
                best = strictest.priority.value
                reason += f"; raised to {best}: {strictest.name}"
        value = _LABEL_TYPES[name](best)
        return _Decision(value, min(1.0, max(scores.get(best, 0.0), 0.05)), reason)

    def _blend_pair(
        self,
        decided: Mapping[str, _Decision],
        guesses: Mapping[str, FieldGuess],
        given: Mapping[str, Any],
        *,
        rules_count: bool,
    ) -> tuple[_Decision, _Decision] | None:
        """Decide type and category together, among the pairs the examples use.

        Each field's labels score as in `_blend`. A pair scores the product
        of its two labels' scores, and only pairs that the examples use
        often enough to train on count. A value the reporter gave rules out the
        pairs without it. Returns None when no usable pair fits.
        """
        pair, type_guess, category_guess = (
            guesses.get(PAIR),
            guesses.get("type"),
            guesses.get("category"),
        )
        if pair is None or type_guess is None or category_guess is None:
            return None
        type_scores = self._field_scores(
            "type", decided["type"], type_guess, rules_count
        )
        category_scores = self._field_scores(
            "category", decided["category"], category_guess, rules_count
        )
        scores: dict[tuple[str, str], float] = {}
        for label in pair.probabilities:
            ticket_type, category = label.split("/", 1)
            if given["type"] is not None and ticket_type != given["type"].value:
                continue
            if given["category"] is not None and category != given["category"].value:
                continue
            scores[(ticket_type, category)] = type_scores.get(
                ticket_type, 0.0
            ) * category_scores.get(category, 0.0)
        if not scores or max(scores.values()) <= 0:
            return None
        best = max(scores, key=lambda key: scores[key])
        rule_pair = (
            str(decided["type"].value.value),
            str(decided["category"].value.value),
        )
        chosen = f"{best[0]} / {best[1]}"
        shown = (
            f"type {type_guess.label} {type_guess.probability:.2f}, "
            f"category {category_guess.label} {category_guess.probability:.2f}"
        )
        if not rules_count:
            reason = f"type and category {chosen} from the text model ({shown})"
        elif best == rule_pair:
            reason = f"text model on type and category: {shown}; {chosen} kept"
        else:
            reason = (
                f"type and category {chosen} from the text model ({shown}), "
                f"not {rule_pair[0]} / {rule_pair[1]}"
            )
        return (
            _Decision(
                TicketType(best[0]), min(1.0, max(type_scores[best[0]], 0.05)), reason
            ),
            _Decision(
                Category(best[1]),
                min(1.0, max(category_scores[best[1]], 0.05)),
                reason,
            ),
        )

    def _field_scores(
        self, name: str, rule: _Decision, guess: FieldGuess, rules_count: bool
    ) -> dict[str, float]:
        """Blend scores of one field: (1 - w) x probability, plus w for the
        rules' label (w = 0 when the rules found too little)."""
        weight = self.rules.model.weight_of_rules(name) if rules_count else 0.0
        rule_label = str(rule.value.value)
        scores = {label: (1 - weight) * p for label, p in guess.probabilities.items()}
        scores[rule_label] = scores.get(rule_label, 0.0) + weight
        return scores

    def _guard_p1(
        self, best: str, reason: str, rule_label: str, scores: Mapping[str, float]
    ) -> tuple[str, str]:
        """Keep a ticket that may well be P1 at P2 or higher.

        Parking a P1 at P3 or P4 costs `p1_miss_cost` on top of an ordinary
        miss, so P2 wins over a likelier P3 or P4 when the P1 score times
        that cost outweighs the difference between their scores.
        """
        if Priority(best).level <= 2:
            return best, reason
        if rule_label == Priority.P1.value:
            return Priority.P2.value, f"{reason}; kept at P2 because the rules said P1"
        p1 = scores.get(Priority.P1.value, 0.0)
        p2 = scores.get(Priority.P2.value, 0.0)
        if scores[best] - p2 < self.rules.model.p1_miss_cost * p1:
            return (
                Priority.P2.value,
                f"{reason}; kept at P2 because P1 is possible ({p1:.2f})",
            )
        return best, reason

    # -- evidence ---------------------------------------------------------

    def _attribute_text(self, attributes: Mapping[str, Any]) -> str:
        """Flatten attributes into "key value" lines so their words count."""
        lines: list[str] = []

        def walk(prefix: str, value: Any, depth: int) -> None:
            if depth > 3:
                return
            if isinstance(value, Mapping):
                for key, item in value.items():
                    walk(f"{prefix} {key}".strip(), item, depth + 1)
            elif isinstance(value, list | tuple):
                for item in value[:50]:
                    walk(prefix, item, depth + 1)
            elif isinstance(value, str | int | float) and not isinstance(value, bool):
                lines.append(f"{prefix.replace('_', ' ')}: {value}")

        walk("", attributes, 0)
        return "\n".join(lines)[: self.rules.limits.max_attribute_chars]

    def _text_notes(self, text: PreparedText) -> list[str]:
        notes = []
        if text.trace_lines:
            notes.append(
                f"text: {text.trace_lines} stack trace or log lines, the first "
                f"{min(text.trace_lines, self.rules.limits.max_trace_lines)} matched"
            )
        if text.truncated_chars:
            notes.append(
                f"text: {text.truncated_chars} characters beyond the cap skipped"
            )
        return notes

    def _add_patterns(self, text: PreparedText, scores: _Scores) -> None:
        cap = self.rules.matching.repeat_cap
        for pattern in self.rules.patterns:
            counts: dict[str, int] = {}
            for found in pattern.compiled.finditer(text.folded):
                code = next((v for v in found.groupdict().values() if v), None)
                label = f"{pattern.name} {code}" if code else pattern.name
                counts[label] = counts.get(label, 0) + 1
                if sum(counts.values()) >= 1000:
                    break
            if not counts:
                continue
            total = sum(counts.values())
            reason = ", ".join(
                f"{label} x{count}" if count > 1 else label
                for label, count in sorted(counts.items(), key=lambda kv: -kv[1])
            )
            amount = 1 + math.log2(min(total, cap))
            scores.add(pattern.adds, reason, amount)
            for key, weight in pattern.adds.items():
                if weight > 0:
                    scores.patterns.setdefault(key, set()).add(pattern.name)

    def _add_priors(self, intake: TicketIntake, scores: _Scores) -> None:
        priors = self.rules.priors
        kind = intake.reporter.kind
        if kind in priors.reporter:
            scores.add(priors.reporter[kind], f"reporter {kind.value}")
        if intake.channel in priors.channel:
            scores.add(
                priors.channel[intake.channel], f"channel {intake.channel.value}"
            )

    def _add_attribute_counts(
        self, attributes: Mapping[str, Any], scores: _Scores
    ) -> None:
        rules = self.rules.attributes
        for key in rules.affected_count_keys:
            value = attributes.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if value >= rules.platform_at_least:
                level = "platform"
            elif value >= rules.segment_at_least:
                level = "segment"
            else:
                level = "single"
            scores.group(f"impact.{level}").add(
                self.rules.tiers.strong, f"attribute {key}={value}"
            )

    def _add_flag_effects(self, scores: _Scores) -> None:
        for name, flag in self.rules.flags.items():
            if flag.adds and scores.get(f"flag.{name}") >= flag.min_score:
                scores.add(flag.adds, f"flag {name}")

    # -- decisions --------------------------------------------------------

    def _category(
        self,
        scores: _Scores,
        given_type: TicketType | None,
        given: Category | None,
        reporter: ReporterKind,
    ) -> _Decision:
        if given is not None:
            return _Decision(
                given, 1.0, f"category {given.value}: given by the reporter"
            )
        decision = self._category_by_score(scores, given_type)
        return self._category_by_owner(scores, decision, reporter)

    def _category_by_score(
        self, scores: _Scores, given_type: TicketType | None
    ) -> _Decision:
        rules = self.rules
        ranked = sorted(
            ((scores.get(f"category.{c.value}"), c) for c in rules.categories),
            key=lambda item: -item[0],
        )
        if given_type is not None:
            # A given type points to the categories whose faults have that type.
            ranked = sorted(
                (
                    (score + (rules.tiers.strong if rule_type == given_type else 0), c)
                    for score, c in ranked
                    for rule_type in [rules.categories[c].type]
                ),
                key=lambda item: -item[0],
            )
        (top, best), (second, runner_up) = ranked[0], ranked[1]
        preferred = self._preferred(ranked, scores)
        if preferred is not None:
            (top, best), (second, runner_up) = preferred
        if top < rules.triage.min_category_score:
            fallback = rules.fallback.category
            if given_type is not None:
                fallback = next(
                    (
                        c
                        for c, rule in rules.categories.items()
                        if rule.type == given_type
                    ),
                    fallback,
                )
            confidence = 0.2 + 0.2 * _strength(top)
            hint = (
                f"; weak hint {best.value}: {scores.describe(f'category.{best.value}')}"
                if top > 0
                else ""
            )
            return _Decision(
                fallback,
                confidence,
                f"category {fallback.value} ({confidence:.2f}): safe default, no "
                f"category reached {rules.triage.min_category_score:g}{hint}",
            )
        margin = max(top - second, 0.0) / top
        confidence = _strength(top) * (0.45 + 0.55 * margin)
        reason = (
            f"category {best.value} ({confidence:.2f}): "
            f"{scores.describe(f'category.{best.value}')}"
        )
        if preferred is not None:
            reason += (
                f"; preferred over {runner_up.value} ({top:.1f} vs {second:.1f}) "
                "by its rule"
            )
        elif second > 0:
            reason += f"; runner-up {runner_up.value} {second:.1f} vs {top:.1f}"
        return _Decision(best, confidence, reason)

    def _partner_at_fault(self, scores: _Scores, reporter: ReporterKind) -> bool:
        """Return whether a provider reporter describes its own systems.

        A provider's "our servers" are the partner's, but a provider's "your
        endpoint" names ours, so "our" must outweigh "your".
        """
        ours = scores.get("flag.our_side")
        return (
            reporter is ReporterKind.PROVIDER
            and ours >= self.rules.flags["our_side"].min_score
            and ours > scores.get("flag.your_side")
        )

    def _category_by_owner(
        self, scores: _Scores, decision: _Decision, reporter: ReporterKind
    ) -> _Decision:
        """Move a game partner's own fault to the provider category.

        A provider's expired certificate or overloaded servers is fixed by
        the provider, so its infrastructure words must not send the ticket
        to our infrastructure team. Text that names the partner's side ("the
        provider's endpoint", "on their side") moves an integration fault
        too. A provider's "our endpoint" does not, because a fault in the
        link itself (signatures, payload fields) is an integration ticket.
        A vendor of infrastructure (CDN, WAF, hosting) reporting its own
        outage stays infrastructure.
        """
        flags = self.rules.flags
        named = scores.get("flag.partner_side") >= flags["partner_side"].min_score
        if decision.value is Category.INFRASTRUCTURE:
            if not (named or self._partner_at_fault(scores, reporter)):
                return decision
        elif decision.value is Category.API_INTEGRATION:
            if not named:
                return decision
        else:
            return decision
        if scores.get("category.provider") < self.rules.ownership.min_provider_score:
            return decision
        vendor = scores.get("flag.infrastructure_vendor")
        if vendor >= flags["infrastructure_vendor"].min_score:
            return decision
        confidence = decision.confidence * 0.9
        return _Decision(
            Category.PROVIDER,
            confidence,
            f"category provider ({confidence:.2f}): the fault is in a game "
            f"partner's own system ({scores.describe('flag.partner_side')}; "
            f"{scores.describe('flag.our_side')}, reporter {reporter.value}) "
            f"although by score {decision.reason}",
        )

    def _preferred(
        self, ranked: list[tuple[float, Category]], scores: _Scores
    ) -> tuple[tuple[float, Category], tuple[float, Category]] | None:
        """Apply `preferred_over`: return (chosen, runner-up) or None.

        Trouble with a named game provider's callbacks is a provider ticket
        even when its integration words outnumber the provider words. A
        login outage whose text names its cause (a gateway, a database, a
        certificate) is an infrastructure ticket, because the cause decides
        which team fixes it, while the product words only name where it shows.
        """
        top, best = ranked[0]
        for score, category in ranked[1:]:
            rule = self.rules.categories[category]
            if (
                best in rule.preferred_over
                and score >= rule.preferred_at
                and self._strong_signals(scores, category) >= rule.preferred_signals
            ):
                return (score, category), (top, best)
        return None

    def _strong_signals(self, scores: _Scores, category: Category) -> int:
        """Count the strong terms and the patterns that point to `category`."""
        key = f"category.{category.value}"
        group = scores.groups.get(key)
        terms = (
            sum(e.term.weight >= self.rules.tiers.strong for e in group.evidence)
            if group
            else 0
        )
        return terms + len(scores.patterns.get(key, ()))

    def _type(
        self, scores: _Scores, category: _Decision, given: TicketType | None
    ) -> _Decision:
        rules = self.rules
        if given is not None:
            return _Decision(given, 1.0, f"type {given.value}: given by the reporter")
        rule = rules.categories[category.value]
        request = scores.get("nature.request")
        fault = scores.get("nature.fault") + scores.get("urgency.down")
        integration = scores.get("nature.integration")
        category_score = scores.get(f"category.{category.value.value}")
        vague = category_score < rules.triage.min_category_score

        # A request that also describes a fault keeps the category's type
        # where the rules say so: a weakness reported as "please require 2FA"
        # is a security alert, "how do I turn on 2FA?" is a request.
        keeps_type = (
            rule.keeps_type_on_request and fault >= rules.natures["fault"].min_score
        )
        if (
            not keeps_type
            and request >= rules.natures["request"].min_score
            and request > fault
        ):
            confidence = _strength(request) * (0.5 + 0.5 * (request - fault) / request)
            return _Decision(
                TicketType.SERVICE_REQUEST,
                confidence,
                f"type service_request ({confidence:.2f}): request wording "
                f"{scores.describe('nature.request')} outweighs fault wording "
                f"({fault:.1f} vs {request:.1f})",
            )
        if vague:
            if fault >= rules.natures["fault"].min_score:
                confidence = 0.3 + 0.2 * _strength(fault)
                return _Decision(
                    TicketType.TECHNICAL_INCIDENT,
                    confidence,
                    f"type technical_incident ({confidence:.2f}): something is "
                    f"failing ({scores.describe('nature.fault')}) but not what",
                )
            return _Decision(
                rules.fallback.type,
                0.25,
                f"type {rules.fallback.type.value} (0.25): safe default, "
                "no fault or request wording",
            )
        if (
            rule.integration_type is not None
            and integration >= rules.natures["integration"].min_score
            and integration > scores.get("nature.fault")
        ):
            confidence = category.confidence * (0.5 + 0.5 * _strength(integration))
            return _Decision(
                rule.integration_type,
                confidence,
                f"type {rule.integration_type.value} ({confidence:.2f}): "
                f"{category.value.value} ticket about the link between systems: "
                f"{scores.describe('nature.integration')}",
            )
        confidence = category.confidence * (0.7 + 0.3 * _strength(fault))
        return _Decision(
            rule.type,
            confidence,
            f"type {rule.type.value} ({confidence:.2f}): a fault in "
            f"{category.value.value}"
            + (f" ({scores.describe('nature.fault')})" if fault else ""),
        )

    def _impact(self, scores: _Scores) -> tuple[ImpactLevel, bool]:
        """Return the impact level and whether evidence (not a default) set it."""
        levels = self.rules.impact.levels
        platform = scores.get("impact.platform")
        if platform >= levels["platform"].min_score:
            return "platform", True
        segment = scores.get("impact.segment")
        single = scores.get("impact.single")
        if segment >= levels["segment"].min_score and segment >= single:
            return "segment", True
        if single >= levels["single"].min_score:
            return "single", True
        if segment >= levels["segment"].min_score:
            return "segment", True
        return "single", False

    def _urgency(
        self, scores: _Scores, ticket_type: TicketType
    ) -> tuple[UrgencyLevel, bool]:
        """Return the urgency level and whether evidence (not a default) set it.

        A service request is not urgent unless the `down` level is reached,
        and its request wording counts towards the `request` level. In other
        tickets only the `request` level's own words (planned, no impact, a
        future expiry) count, not a polite "please".
        """
        levels = self.rules.urgency.levels
        down = scores.get("urgency.down")
        degraded = scores.get("urgency.degraded")
        request = scores.get("urgency.request")
        if down >= levels["down"].min_score and down >= degraded * 0.7:
            return "down", True
        if ticket_type is TicketType.SERVICE_REQUEST:
            request += scores.get("nature.request")
            return "request", request > 0
        if request >= levels["request"].min_score and request > down + degraded:
            return "request", True
        if down + degraded >= levels["degraded"].min_score:
            return "degraded", True
        if scores.get("nature.fault") >= self.rules.natures["fault"].min_score:
            return "degraded", False
        return self.rules.urgency.default, False

    def _priority(
        self,
        scores: _Scores,
        category: _Decision,
        ticket_type: TicketType,
        given: Priority | None,
        reporter: ReporterKind,
    ) -> _Decision:
        rules = self.rules
        if given is not None:
            return _Decision(
                given, 1.0, f"priority {given.value}: given by the reporter"
            )
        impact, impact_found = self._impact(scores)
        if not impact_found:
            impact = rules.impact.by_reporter.get(reporter, impact)
        urgency, urgency_found = self._urgency(scores, ticket_type)
        lines = [
            f"impact {impact}: "
            + (
                scores.describe(f"impact.{impact}")
                if impact_found
                else f"default for reporter {reporter.value}"
            )
            + self._describe_outweighed_platform(scores, impact),
            f"urgency {urgency}: "
            + (self._describe_urgency(scores, urgency) if urgency_found else "default"),
        ]
        category_score = scores.get(f"category.{category.value.value}")
        if (
            not impact_found
            and not urgency_found
            and category_score < rules.triage.min_category_score
        ):
            priority = rules.fallback.priority
            lines.append(f"priority {priority.value}: safe default for a vague ticket")
            return _Decision(priority, 0.3, "\n".join(lines))

        priority = rules.priority.matrix[impact][urgency]
        lines.append(f"priority {priority.value} = impact {impact} x urgency {urgency}")
        vague = category_score < rules.triage.min_category_score
        plain = rules.priority.plain_request
        if (
            plain is not None
            and not vague
            and ticket_type is TicketType.SERVICE_REQUEST
            and urgency == "request"
            and impact != "platform"
            and plain.level > priority.level
            and not self._operational_request(scores)
        ):
            priority = plain
            lines.append(
                f"priority lowered to {plain.value}: a service request with no "
                "deadline or production effect"
            )
        if vague and rules.fallback.priority.level < priority.level:
            priority = rules.fallback.priority
            lines.append(
                f"priority raised to {priority.value}: safe default for a vague ticket"
            )
        held_floors: list[Floor] = []
        for floor in rules.priority.floors:
            if not self._floor_applies(floor, scores, impact, urgency):
                continue
            held_floors.append(floor)
            if floor.priority.level < priority.level:
                priority = floor.priority
                detail = (
                    f" ({scores.describe(f'flag.{floor.flag}')})" if floor.flag else ""
                )
                lines.append(
                    f"priority raised to {priority.value}: {floor.name}{detail}"
                )
        confidence = (
            (0.45 + 0.55 * _strength(self._level_score(scores, "impact", impact)))
            * (0.45 + 0.55 * _strength(self._level_score(scores, "urgency", urgency)))
        ) ** 0.5
        if not impact_found:
            confidence *= 0.8
        if not urgency_found:
            confidence *= 0.8
        lines[-1] += f" ({confidence:.2f})" if len(lines) == 3 else ""
        return _Decision(priority, confidence, "\n".join(lines), tuple(held_floors))

    def _operational_request(self, scores: _Scores) -> bool:
        """Return whether a request names a deadline or a production effect."""
        flags = self.rules.flags
        if scores.get("flag.no_deadline") >= flags["no_deadline"].min_score:
            return False
        return (
            scores.get("flag.operational_request")
            >= flags["operational_request"].min_score
        )

    @staticmethod
    def _describe_outweighed_platform(scores: _Scores, impact: ImpactLevel) -> str:
        """Return a note when platform-wide words were found but not enough."""
        group = scores.groups.get("impact.platform")
        if impact == "platform" or group is None or not group.evidence:
            return ""
        return f"; not platform-wide: {group.describe()}"

    @staticmethod
    def _describe_urgency(scores: _Scores, urgency: UrgencyLevel) -> str:
        keys = [f"urgency.{urgency}"]
        if urgency == "request":
            keys.append("nature.request")
        return (
            ", ".join(scores.describe(key) for key in keys if key in scores.groups)
            or "no signal"
        )

    def _floor_applies(
        self,
        floor: Floor,
        scores: _Scores,
        impact: ImpactLevel,
        urgency: UrgencyLevel,
    ) -> bool:
        if floor.flag is not None:
            flag = self.rules.flags[floor.flag]  # type: ignore[index]
            if scores.get(f"flag.{floor.flag}") < flag.min_score:
                return False
        if floor.unless_flag is not None:
            unless = self.rules.flags[floor.unless_flag]  # type: ignore[index]
            if scores.get(f"flag.{floor.unless_flag}") >= unless.min_score:
                return False
        if floor.impact is not None and impact not in floor.impact:
            return False
        if floor.urgency is not None and urgency not in floor.urgency:
            return False
        group = scores.groups.get(f"urgency.{urgency}")
        signals = len(group.evidence) + len(group.extra) if group else 0
        return signals >= floor.min_urgency_signals

    @staticmethod
    def _level_score(scores: _Scores, dimension: str, level: str) -> float:
        return scores.get(f"{dimension}.{level}")
