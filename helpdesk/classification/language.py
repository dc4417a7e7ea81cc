"""Language detection with lingua, restricted to the languages in the rules.

The detector ships its n-gram models inside the lingua-language-detector
wheel, so nothing is downloaded. It is built once per process and shared by
threads; the rules choose its accuracy mode because the two differ a lot in
memory (see bench/classify_speed.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from helpdesk.classification.rules import LanguageDetection


@dataclass(frozen=True)
class DetectedLanguage:
    code: str
    confidence: float


class LanguageGuesser:
    """A lingua detector for a fixed set of languages, built on first use."""

    def __init__(self, codes: list[str], settings: LanguageDetection) -> None:
        self._languages = [
            Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
            for code in codes
        ]
        self._settings = settings
        self._detector: LanguageDetector | None = None
        self._lock = threading.Lock()

    def load(self) -> LanguageDetector:
        """Build the detector and load its models, once."""
        with self._lock:
            if self._detector is None:
                builder = LanguageDetectorBuilder.from_languages(*self._languages)
                if self._settings.accuracy == "low":
                    builder = builder.with_low_accuracy_mode()
                self._detector = builder.with_preloaded_language_models().build()
            return self._detector

    def detect(self, text: str) -> DetectedLanguage | None:
        """Return the most likely language of `text`, or None when unsure.

        Only the first `sample_chars` characters are read, and a text with
        fewer than `min_letters` letters gets no answer: a one-word ticket
        has no reliable language.
        """
        sample = text[: self._settings.sample_chars]
        if sum(ch.isalpha() for ch in sample) < self._settings.min_letters:
            return None
        if len(self._languages) == 1:
            return DetectedLanguage(_code(self._languages[0]), 1.0)
        values = self.load().compute_language_confidence_values(sample)
        if not values:
            return None
        best = values[0]
        if best.value < self._settings.min_confidence:
            return None
        return DetectedLanguage(_code(best.language), round(best.value, 2))


def _code(language: Language) -> str:
    return language.iso_code_639_1.name.lower()
