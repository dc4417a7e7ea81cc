"""Matching of signal terms against a ticket's tokens.

Terms are indexed once per process, so matching a ticket costs a few dict
look-ups per token: exact words, `*` stems (first three letters as the key),
phrases (keyed by their first word), and, for tokens that matched nothing,
a typo-tolerant look-up with rapidfuzz's optimal string alignment distance.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz.distance import OSA

from helpdesk.classification.rules import Matching, SignalGroup, Tiers, term_words
from helpdesk.classification.text import PreparedText, fold

_STEM_KEY = 3


@dataclass
class Term:
    """One signal term; the same term listed for several languages is one Term."""

    key: str
    weight: float
    languages: list[str]
    text: str
    parts: tuple[tuple[str, bool], ...]
    symbol: str | None = None
    # Set when an English term of any group matches the same word, so the
    # word is not shown as foreign ("deposit" listed under Indonesian).
    english_word: bool = False

    @property
    def language(self) -> str | None:
        """Return the term's language when only that one language lists it."""
        if self.english_word or len(set(self.languages)) != 1:
            return None
        code = self.languages[0]
        return None if code in ("en", "any") else code


@dataclass
class Evidence:
    """All hits of one term in one ticket."""

    term: Term
    count: int = 0
    in_title: bool = False
    fuzzy: bool = False
    surface: str = ""

    def describe(self) -> str:
        shown = self.surface or self.term.text
        text = f"'{shown}'"
        if self.fuzzy:
            text += f" (~'{self.term.text}')"
        if self.term.language is not None:
            text += f" ({self.term.language})"
        if self.count > 1:
            text += f" x{self.count}"
        return text


@dataclass
class GroupScore:
    score: float = 0.0
    evidence: list[Evidence] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def add(self, amount: float, reason: str | None = None) -> None:
        self.score += amount
        if reason:
            self.extra.append(reason)

    def describe(self, limit: int = 6) -> str:
        """Return the strongest evidence first, as a short list."""
        ranked = sorted(
            self.evidence, key=lambda e: (-e.term.weight * (1 + e.in_title), -e.count)
        )
        items = [e.describe() for e in ranked[:limit]]
        if len(ranked) > limit:
            items.append(f"+{len(ranked) - limit} more")
        return ", ".join(items + self.extra)


@dataclass
class _Hit:
    term: Term
    start: int
    end: int
    fuzzy: bool


def _parts(term: str) -> tuple[tuple[str, bool], ...]:
    return tuple((word.rstrip("*"), word.endswith("*")) for word in term_words(term))


class Matcher:
    """Signal terms of every group, indexed for matching."""

    def __init__(
        self, groups: dict[str, SignalGroup], tiers: Tiers, matching: Matching
    ) -> None:
        self._matching = matching
        self._exact: dict[str, list[Term]] = defaultdict(list)
        self._stems: dict[str, list[Term]] = defaultdict(list)
        self._fuzzy_words: dict[tuple[str, int], list[Term]] = defaultdict(list)
        self._fuzzy_stems: dict[str, list[Term]] = defaultdict(list)
        self._symbols: list[Term] = []
        self._seen: dict[tuple[str, tuple[tuple[str, bool], ...], str], Term] = {}
        self.keys = list(groups)
        weights = {"strong": tiers.strong, "normal": tiers.normal, "weak": tiers.weak}
        for key, group in groups.items():
            for tier, by_language in group.tiers().items():
                for language, terms in by_language.items():
                    for text in terms:
                        self._index(key, weights[tier], language, text)
        self._mark_english_words()

    def _mark_english_words(self) -> None:
        """Flag one-word terms of other languages that English terms also match."""
        for term in self._seen.values():
            if term.symbol is not None or len(term.parts) != 1:
                continue
            if "en" in term.languages or "any" in term.languages:
                continue
            word = term.parts[0][0]
            term.english_word = any(
                "en" in other.languages and len(other.parts) == 1
                for other in self._candidates(word)
            )

    def _index(self, key: str, weight: float, language: str, text: str) -> None:
        symbol = None if re.search(r"\w", text) else fold(text).strip()
        parts = _parts(text) if symbol is None else ()
        seen = self._seen.get((key, parts, symbol or ""))
        if seen is not None:
            # Listed again (for another language or tier): keep the first
            # entry's weight and record the language for fuzzy matching.
            seen.languages.append(language)
            return
        term = Term(key, weight, [language], text, parts, symbol)
        self._seen[(key, parts, symbol or "")] = term
        if symbol is not None:
            self._symbols.append(term)
            return
        first, is_stem = term.parts[0]
        if is_stem:
            self._stems[first[:_STEM_KEY]].append(term)
        else:
            self._exact[first].append(term)
        if len(term.parts) > 1 or len(first) < self._matching.fuzzy_min_length:
            return
        if key.split(".", 1)[0] not in self._matching.fuzzy_dimensions:
            return
        if is_stem:
            self._fuzzy_stems[first[0]].append(term)
        else:
            self._fuzzy_words[(first[0], len(first))].append(term)

    def _rest_matches(self, term: Term, tokens: list[str], start: int) -> bool:
        if start + len(term.parts) > len(tokens):
            return False
        for offset, (word, is_stem) in enumerate(term.parts[1:], start=1):
            token = tokens[start + offset]
            if not (token.startswith(word) if is_stem else token == word):
                return False
        return True

    def _candidates(self, token: str) -> Iterable[Term]:
        yield from self._exact.get(token, ())
        for term in self._stems.get(token[:_STEM_KEY], ()):
            if token.startswith(term.parts[0][0]):
                yield term

    def _fuzzy(self, token: str, languages: frozenset[str]) -> list[Term]:
        limit = self._matching.fuzzy_max_distance
        found: list[Term] = []
        for length in (len(token) - 1, len(token), len(token) + 1):
            for term in self._fuzzy_words.get((token[0], length), ()):
                if languages.isdisjoint(term.languages):
                    continue
                word = term.parts[0][0]
                if OSA.distance(token, word, score_cutoff=limit) <= limit:
                    found.append(term)
        for term in self._fuzzy_stems.get(token[0], ()):
            if languages.isdisjoint(term.languages):
                continue
            stem = term.parts[0][0]
            if len(token) >= len(stem) and (
                OSA.distance(token[: len(stem)], stem, score_cutoff=limit) <= limit
            ):
                found.append(term)
        return found

    def _hits(self, tokens: list[str], languages: frozenset[str]) -> list[_Hit]:
        hits: list[_Hit] = []
        fuzzy_cache: dict[str, list[Term]] = {}
        min_length = self._matching.fuzzy_min_length
        fuzzy_on = self._matching.fuzzy_max_distance > 0
        for index, token in enumerate(tokens):
            matched = False
            for term in self._candidates(token):
                if len(term.parts) == 1 or self._rest_matches(term, tokens, index):
                    hits.append(_Hit(term, index, index + len(term.parts), False))
                    matched = True
            if matched or not fuzzy_on or len(token) < min_length:
                continue
            if not token.isalpha():
                continue
            if token not in fuzzy_cache:
                fuzzy_cache[token] = self._fuzzy(token, languages)
            for term in fuzzy_cache[token]:
                hits.append(_Hit(term, index, index + 1, True))
        return hits

    def match(self, text: PreparedText, language: str | None) -> dict[str, GroupScore]:
        """Score every group on `text`; groups with no hit are absent.

        Typo-tolerant matching uses only the terms of `language` (English
        when it is unknown), because a one-letter change turns many words
        into a word of another language ("starting", Dutch "storting").
        """
        languages = frozenset({language or "en", "any"})
        hits = _best_per_position(_drop_covered(self._hits(text.tokens, languages)))
        evidence: dict[tuple[str, str], Evidence] = {}
        for hit in hits:
            item = evidence.setdefault(
                (hit.term.key, hit.term.text),
                Evidence(hit.term, surface=" ".join(text.surface[hit.start : hit.end])),
            )
            item.count += 1
            item.in_title = item.in_title or hit.start < text.title_tokens
            item.fuzzy = item.fuzzy or hit.fuzzy
        for term in self._symbols:
            assert term.symbol is not None
            count = text.folded.count(term.symbol)
            if count:
                title_part = text.folded.split("\n", 1)[0]
                evidence[(term.key, term.text)] = Evidence(
                    term, count, term.symbol in title_part, False, term.text
                )

        scores: dict[str, GroupScore] = {}
        for item in evidence.values():
            group = scores.setdefault(item.term.key, GroupScore())
            group.score += self.weigh(item.term.weight, item.count, item.in_title)
            group.evidence.append(item)
        return scores

    def weigh(self, weight: float, count: int, in_title: bool) -> float:
        """Return a term's score: repeats add less and less, the title counts more."""
        repeats = 1 + math.log2(min(count, self._matching.repeat_cap))
        return weight * repeats * (self._matching.title_weight if in_title else 1.0)


def _best_per_position(hits: list[_Hit]) -> list[_Hit]:
    """Keep one hit per group and position, the heaviest.

    A word matched by two terms of one group ("deposit" and "deposit*")
    counts once.
    """
    best: dict[tuple[str, int], _Hit] = {}
    for hit in hits:
        slot = (hit.term.key, hit.start)
        current = best.get(slot)
        if (
            current is None
            or hit.term.weight > current.term.weight
            or (hit.term.weight == current.term.weight and hit.end > current.end)
        ):
            best[slot] = hit
    return list(best.values())


def _drop_covered(hits: list[_Hit]) -> list[_Hit]:
    """Drop hits that a more specific hit of the same dimension explains.

    "payment provider" is a payment phrase, so its "provider" must not count
    for the provider category as well; and "stortingslimiet*" (deposit
    limit) is more specific than "storting*" (deposit) on the same word.
    """
    covered: dict[str, set[int]] = defaultdict(set)
    longest: dict[tuple[str, int], int] = {}
    for hit in hits:
        dimension = hit.term.key.split(".", 1)[0]
        if hit.end - hit.start > 1:
            covered[dimension].update(range(hit.start, hit.end))
        else:
            slot = (dimension, hit.start)
            length = len(hit.term.parts[0][0])
            longest[slot] = max(longest.get(slot, 0), length)
    kept = []
    for hit in hits:
        dimension = hit.term.key.split(".", 1)[0]
        if hit.end - hit.start == 1:
            if hit.start in covered[dimension]:
                continue
            if len(hit.term.parts[0][0]) < longest[(dimension, hit.start)]:
                continue
        kept.append(hit)
    return kept
