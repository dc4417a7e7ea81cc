"""A text model that learns type, category and priority from labelled tickets.

The rules in `classification.yaml` match the words that a lead listed. The
model learns from whole tickets that leads labelled (the JSONL files in
`helpdesk/config/examples/`), so it also matches wording that no rule
lists, and weighs the signals against each other the way the labels did.

It is a logistic regression per field over character n-grams (which cope
with inflection, typos and languages without a stemmer) and word unigrams
and bigrams, both TF-IDF weighted, from scikit-learn. It trains when the
process loads the classifier, so a lead who adds labelled tickets only
restarts the worker. The trained model is cached per user (see
`load_or_train`), so only the first start after a change pays for training.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
import structlog
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from helpdesk.classification.labelled import FIELDS, LabelledTicket, read_labelled
from helpdesk.classification.rules import ModelSettings
from helpdesk.classification.text import fold
from helpdesk.config import ConfigFileError
from helpdesk.domain import TicketIntake

log = structlog.get_logger(__name__)

# At least this many examples of a label before the model may predict it.
MIN_EXAMPLES_PER_LABEL = 3
# The joint field "type/category": one model for the pair, so that the type
# and the category it predicts belong together.
PAIR = "pair"


def _labels(
    tickets: Sequence[LabelledTicket], name: str
) -> tuple[list[int], list[str]]:
    """Return the rows and labels to train field `name` on, leaving out
    labels with fewer than MIN_EXAMPLES_PER_LABEL examples."""
    found: list[tuple[int, str]] = []
    for row, ticket in enumerate(tickets):
        expected = ticket.expected
        if name == PAIR:
            if "type" in expected and "category" in expected:
                found.append((row, f"{expected['type']}/{expected['category']}"))
        elif name in expected:
            found.append((row, expected[name]))
    counts: dict[str, int] = {}
    for _, label in found:
        counts[label] = counts.get(label, 0) + 1
    rare = sorted(label for label, n in counts.items() if n < MIN_EXAMPLES_PER_LABEL)
    if rare and name != PAIR:
        log.warning(
            "classifier.model.rare_labels_left_out",
            field=name,
            labels=rare,
            minimum=MIN_EXAMPLES_PER_LABEL,
        )
    kept = [(row, label) for row, label in found if label not in rare]
    return [row for row, _ in kept], [label for _, label in kept]


@dataclass(frozen=True)
class FieldGuess:
    """The model's probabilities for one field, the likeliest label first."""

    probabilities: dict[str, float]

    @property
    def label(self) -> str:
        return next(iter(self.probabilities))

    @property
    def probability(self) -> float:
        return next(iter(self.probabilities.values()))


def model_text(intake: TicketIntake, max_chars: int) -> str:
    """Return the text the model reads: channel, reporter, title twice, body.

    The title counts twice because it is the reporter's own summary. The
    channel and reporter kind become tokens ("channel_monitoring") so the
    model can learn, say, that a monitoring alert is seldom a request.
    """
    title = fold(intake.title)
    body = fold(intake.description[:max_chars])
    attributes = " ".join(
        f"{key} {value}" for key, value in sorted(intake.attributes.items())
    )
    return (
        f"channel_{intake.channel.value} reporter_{intake.reporter.kind.value} "
        f"{title} {title} {body} {fold(attributes[:max_chars])}"
    )


def _example_files(paths: Sequence[Path]) -> list[Path]:
    """Return the example files: each file named, and every `*.jsonl` in
    each folder named. Raises ConfigFileError for a path that does not exist."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.jsonl")))
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigFileError(
                f"classification examples: {path} does not exist; point "
                "HELPDESK_CLASSIFICATION_EXAMPLES at a folder of labelled "
                "*.jsonl files or at one such file"
            )
    return files


def load_examples(paths: Sequence[Path]) -> list[LabelledTicket]:
    """Read labelled tickets from files and folders (every `*.jsonl` in them).

    Raises ConfigFileError naming each bad line, or a path that does not
    exist, cannot be read or contains no examples, so a worker refuses to start
    on a broken examples file rather than training on part of it.
    """
    tickets: list[LabelledTicket] = []
    problems: list[str] = []
    for file in _example_files(paths):
        try:
            read, bad = read_labelled(file)
        except UnicodeDecodeError as exc:
            raise ConfigFileError(
                f"classification examples: {file} is not UTF-8 text ({exc.reason} "
                f"at byte {exc.start}); save it as UTF-8"
            ) from exc
        except OSError as exc:
            # A dangling link, a folder named *.jsonl, or no read permission.
            raise ConfigFileError(
                f"classification examples: cannot read {file}: {exc.strerror}; "
                "make it a readable file or remove it"
            ) from exc
        tickets.extend(read)
        problems.extend(bad)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ConfigFileError(
            f"classification examples: {len(problems)} bad line(s); fix or remove "
            f"them:\n  {shown}{more}"
        )
    if not tickets:
        raise ConfigFileError(
            "classification examples: no labelled tickets found in "
            f"{', '.join(str(p) for p in paths)}; add *.jsonl files in the "
            "labelled format (docs/labelling.md) or set model.enabled to false "
            "in the rules file"
        )
    return tickets


class TextModel:
    """Trained per-field models over one shared feature space; thread-safe to read."""

    def __init__(
        self,
        features: FeatureUnion,
        models: dict[str, LogisticRegression],
        settings: ModelSettings,
        examples: int,
        seconds: float,
    ) -> None:
        self._features = features
        self._models = models
        self.settings = settings
        self.examples = examples
        self.train_seconds = seconds

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._models)

    @classmethod
    def train(
        cls, tickets: Sequence[LabelledTicket], settings: ModelSettings
    ) -> TextModel:
        """Fit the features and one model per field that has enough labels.

        Raises ConfigFileError when no field has enough, because a model
        that learned nothing would leave the classifier on the rules alone
        without saying so.
        """
        started = time.perf_counter()
        # Checked before the features are fitted, which fail on fewer than
        # two tickets.
        trainable: dict[str, tuple[list[int], list[str]]] = {}
        for name in (*FIELDS, PAIR):
            rows, labels = _labels(tickets, name)
            if len(set(labels)) >= 2:
                trainable[name] = (rows, labels)
        if not trainable:
            raise ConfigFileError(
                f"classification examples: the {len(tickets)} labelled tickets "
                "give no field two labels with at least "
                f"{MIN_EXAMPLES_PER_LABEL} tickets each, so the text model "
                "would learn nothing; add tickets with other labels or set "
                "model.enabled to false in the rules file"
            )
        features = FeatureUnion(
            [
                (
                    "chars",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(settings.char_ngrams[0], settings.char_ngrams[1]),
                        sublinear_tf=True,
                        min_df=2,
                        dtype=np.float32,
                    ),
                ),
                (
                    "words",
                    TfidfVectorizer(
                        analyzer="word",
                        ngram_range=(1, 2),
                        sublinear_tf=True,
                        token_pattern=r"(?u)\b\w+\b",
                        min_df=2,
                        dtype=np.float32,
                    ),
                ),
            ]
        )
        texts = [model_text(t.intake, settings.max_chars) for t in tickets]
        matrix = features.fit_transform(texts)
        models: dict[str, LogisticRegression] = {}
        for name, (rows, labels) in trainable.items():
            model = LogisticRegression(
                C=settings.regularisation,
                max_iter=3000,
                class_weight="balanced" if name in settings.balanced else None,
            )
            model.fit(matrix[rows], labels)
            models[name] = model
        return cls(
            features, models, settings, len(tickets), time.perf_counter() - started
        )

    def predict(self, intake: TicketIntake) -> dict[str, FieldGuess]:
        """Return each trained field's label probabilities for one ticket."""
        row = self._features.transform([model_text(intake, self.settings.max_chars)])
        guesses: dict[str, FieldGuess] = {}
        for name, model in self._models.items():
            probabilities = model.predict_proba(row)[0]
            ranked = sorted(
                zip(model.classes_, probabilities, strict=True),
                key=lambda pair: -pair[1],
            )
            guesses[name] = FieldGuess({str(label): float(p) for label, p in ranked})
        return guesses


# Bump when the pickled TextModel changes shape, so old cache files retrain.
_CACHE_FORMAT = 1
# Source files of the code that builds the model's text, features and
# labels. Editing one trains a new model, as editing an example does.
_TRAINING_CODE = tuple(
    Path(__file__).with_name(name) for name in ("model.py", "text.py", "labelled.py")
)


def default_cache_dir() -> Path:
    """Return `$HELPDESK_MODEL_CACHE_DIR`, `$XDG_CACHE_HOME/helpdesk`, or
    `~/.cache/helpdesk`."""
    configured = os.environ.get("HELPDESK_MODEL_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "helpdesk"


def cache_key(paths: Sequence[Path], settings: ModelSettings) -> str:
    """Return a digest of everything the trained model depends on: the
    examples' bytes, the model settings, the training code and the library
    versions."""
    digest = hashlib.sha256()
    digest.update(f"{_CACHE_FORMAT} {sklearn.__version__} {np.__version__}".encode())
    digest.update(settings.model_dump_json().encode())
    for file in _TRAINING_CODE:
        digest.update(file.read_bytes())
    for file in _example_files(paths):
        digest.update(file.name.encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()[:32]


def _private(path: Path) -> bool:
    """Return whether `path` belongs to this user and no other user can write it.

    The cache contains pickles, and unpickling runs code, so a file that
    another user could have written is never loaded.
    """
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & (
        stat.S_IWGRP | stat.S_IWOTH
    )


def load_or_train(
    paths: Sequence[Path], settings: ModelSettings, cache_dir: Path | None
) -> TextModel:
    """Return the model for these examples, from the cache when it has it.

    Training takes seconds to tens of seconds, so a trained model is kept
    in `cache_dir` under a digest of its inputs. A change to an example or
    a setting trains a new one, and `cache_dir` None trains every time.
    Raises ConfigFileError for broken examples.
    """
    if cache_dir is None:
        return TextModel.train(load_examples(paths), settings)
    try:
        key = cache_key(paths, settings)
    except OSError:
        key = ""  # load_examples below names the unreadable path
    cached = cache_dir / f"text-model-{key}.pickle"
    if key and cached.is_file():
        try:
            if _private(cached) and _private(cache_dir):
                with cached.open("rb") as file:
                    model = pickle.load(file)  # noqa: S301 (checked owner above)
                if isinstance(model, TextModel):
                    log.info("classifier.model.cached", path=str(cached))
                    return model
            log.warning("classifier.model.cache_ignored", path=str(cached))
        except Exception as exc:  # a truncated or foreign file: train again
            log.warning(
                "classifier.model.cache_unreadable", path=str(cached), error=str(exc)
            )
    model = TextModel.train(load_examples(paths), settings)
    log.info(
        "classifier.model.trained",
        examples=model.examples,
        seconds=round(model.train_seconds, 2),
    )
    if key:
        _store(model, cached)
    return model


def _store(model: TextModel, path: Path) -> None:
    """Write the model atomically; a cache that cannot be written only logs."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=".text-model-", delete=False
        ) as file:
            pickle.dump(model, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(file.name, path)
    except OSError as exc:
        log.warning(
            "classifier.model.cache_not_written", path=str(path), error=str(exc)
        )
