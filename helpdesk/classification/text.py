"""Text preparation for matching: normalisation, capping and tokens.

Matching works on a normalised form (NFKC, casefold, accents stripped) so a
rule written as "depósito" also matches "DEPOSITO" and "depósitos". The
display form keeps accents so reasons quote the words as the reporter wrote
them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

# Letters that carry no combining mark in Unicode, so NFD does not strip them.
_EXTRA_FOLDS = str.maketrans(
    {"ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "æ": "ae", "œ": "oe"}
)

_WORD = re.compile(r"\w+", re.UNICODE)

# Lines of stack traces and log excerpts. They are counted and reported but
# only the first few are matched, because a 500-line trace says little more
# than its first lines and would otherwise swamp the prose.
_TRACE_LINE = re.compile(
    r"""^\s*(
        at\s+[\w$.<>]+\(.*\)                 # Java, JavaScript, .NET frames
      | File\s+".+",\s+line\s+\d+            # Python frames
      | Traceback\s+\(most\s+recent\s+call   # Python header
      | goroutine\s+\d+\s+\[                 # Go header
      | [\w./-]+\.(go|rb|py|js|ts|java|cs|php|kt|scala):\d+  # file:line
      | \#\d+\s+\S+                           # PHP and gdb frames
      | \d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d    # timestamped log lines
      | \[?(ERROR|WARN|WARNING|FATAL|INFO|DEBUG)\]?[\s:]  # log levels
      | [\w.$]+(Exception|Error)(:|\s|$)      # exception lines
    )""",
    re.VERBOSE,
)


# English contractions typed without the apostrophe, split the way "can't"
# is split, so "cant" and "didnt" match the terms "can t" and "didn t".
# "cant" and "wont" are also rare English words that tickets hardly use.
_NOT_CONTRACTIONS = (
    "didnt", "dont", "doesnt", "isnt", "arent", "wasnt", "werent",
    "havent", "hasnt", "couldnt", "wouldnt", "shouldnt",
)  # fmt: skip
_CONTRACTIONS: dict[str, tuple[str, ...]] = {
    **{word: (word[:-1], "t") for word in _NOT_CONTRACTIONS},
    "cant": ("can", "t"),
    "wont": ("won", "t"),
    "im": ("i", "m"),
    "ive": ("i", "ve"),
}


# Combining diacritical marks (U+0300-U+036F) cover the accents of the
# Latin and Cyrillic languages the rules list: é, ñ, ş, ą, й, ё.
_COMBINING = re.compile("[\u0300-\u036f]")


def fold(text: str) -> str:
    """Return the matching form of `text`: NFKC, casefold, no accents."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).casefold()
    stripped = _COMBINING.sub("", unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFC", stripped).translate(_EXTRA_FOLDS)


@lru_cache(maxsize=50_000)
def fold_word(word: str) -> str:
    """Return `fold(word)`, cached: ticket words repeat a lot."""
    return fold(word)


@dataclass
class PreparedText:
    """A ticket's text, capped and split into aligned token lists.

    `tokens` are folded for matching and `surface` holds the same words as
    written (NFKC and casefolded only); both leave out trace lines past the
    first few. `title_tokens` is how many of the tokens come from the
    title. `folded` is the whole capped text, trace lines included, for the
    regular expressions that count status codes in logs.
    """

    raw: str
    folded: str
    tokens: list[str]
    surface: list[str]
    title_tokens: int
    trace_lines: int = 0
    truncated_chars: int = 0
    prose: str = ""
    notes: list[str] = field(default_factory=list)


def cap_text(text: str, max_chars: int) -> tuple[str, int]:
    """Keep the head and the tail of a long text; return it and the cut size.

    The head carries the summary and the tail often the latest state, so
    both are kept, four fifths of the budget going to the head.
    """
    if len(text) <= max_chars:
        return text, 0
    head = max_chars * 4 // 5
    tail = max_chars - head
    return text[:head] + "\n…\n" + text[-tail:], len(text) - max_chars


def split_trace_lines(text: str, keep: int) -> tuple[str, str, int]:
    """Separate log and trace lines from prose.

    Returns the text with only the first `keep` trace lines left in, the
    prose without any trace lines (for language detection), and the number
    of trace lines found.
    """
    kept: list[str] = []
    prose: list[str] = []
    count = 0
    for line in text.splitlines():
        if _TRACE_LINE.match(line):
            count += 1
            if count <= keep:
                kept.append(line)
            continue
        kept.append(line)
        prose.append(line)
    return "\n".join(kept), "\n".join(prose), count


def prepare(
    title: str, body: str, *, max_chars: int, max_trace_lines: int
) -> PreparedText:
    """Cap, clean and tokenise a ticket's title and body."""
    body, cut = cap_text(body, max_chars)
    full = f"{title}\n{body}"
    body, prose, trace_lines = split_trace_lines(body, max_trace_lines)

    title_surface = _words(title)
    body_surface = _words(body)
    surface = title_surface + body_surface
    return PreparedText(
        raw=full,
        folded=fold(full),
        tokens=[fold_word(word) for word in surface],
        surface=surface,
        title_tokens=len(title_surface),
        trace_lines=trace_lines,
        truncated_chars=cut,
        prose=f"{title}\n{prose}",
    )


def _words(text: str) -> list[str]:
    """Split text into casefolded words, expanding apostrophe-less contractions."""
    words: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()):
        words.extend(_CONTRACTIONS.get(word, (word,)))
    return words
