"""Label names, aliases, option letters/numbers and grades: strict single-label matching.

An answer names a label only if, once normalised (NFKC, case-folded, punctuation -> space), it is exactly one
label name or alias, an option token listed in the prompt, or (ordinal) a grade; an option token or grade may be
followed by the label name it stands for, which must then agree. Whole-answer equality is what makes the matcher
unhackable: "A or B", "either", a list of several labels or the whole label list equal no single label, and
substring tricks (Visual-RFT issue #79) cannot work.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from reward_fns.task_info import json_or_list

_NON_WORD = re.compile(r"[\W_]+")
# Phrases a model puts before the answer proper; removed once, longest first (as normalised tokens).
_LEAD_INS = tuple(
    tuple(p.split())
    for p in (
        "the final answer is",
        "final answer is",
        "final answer",
        "the answer is",
        "answer is",
        "answer",
        "option",
        "choice",
    )
)
_GRADE_PREFIXES = frozenset({"grade", "stage", "level", "class"})
_NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
_ROMAN = {r: i for i, r in enumerate("i ii iii iv v vi vii viii ix x".split(), start=1)}
# Ways to say "no label applies" in a multilabel answer.
_EMPTY_SET_WORDS = frozenset({"none", "no finding", "no findings", "nothing"})
LIST_SEPARATORS = re.compile(r"[,;\n|]")
# A sign before a number ("-1", "grade -2", U+2212 minus): normalisation turns it into the word "minus", since
# dropping it with the other punctuation would read "-1" as grade or option 1. Not after a word character:
# "type-2" and "1-2" hold hyphens, not signs.
_NEGATIVE_NUMBER = re.compile(r"(?<!\w)[-\u2010-\u2015\u2212]\s*(?=\d)")


def normalize(text: str) -> str:
    """Case-, width- and punctuation-insensitive form: ``"**Melanocytic-Nevi.**"`` -> ``"melanocytic nevi"``;
    a number's sign is kept as a word: ``"grade -2"`` -> ``"grade minus 2"``."""
    text = _NEGATIVE_NUMBER.sub(" minus ", unicodedata.normalize("NFKC", text))
    return _NON_WORD.sub(" ", text.casefold()).strip()


@dataclass(frozen=True)
class LabelSpace:
    labels: tuple[str, ...]
    lookup: dict[str, int]  # normalised name or alias -> label index (ambiguous spellings removed)
    names: frozenset[str] = frozenset()  # normalised display names (aliases excluded)

    def index_of(self, name: str) -> int | None:
        """Index of a ground-truth label name (as the converters write it) or of one of its spellings."""
        return self.lookup.get(normalize(name))


@lru_cache(maxsize=256)
def label_space(labels: tuple[str, ...], aliases: tuple[tuple[str, ...], ...] = ()) -> LabelSpace:
    """Lookup table of names and aliases, built once per label set. A spelling shared by two labels names
    neither (an alias list must not make one answer correct for two classes)."""
    lookup: dict[str, int] = {}
    ambiguous: set[str] = set()
    for index, label in enumerate(labels):
        spellings = (label, *(aliases[index] if index < len(aliases) else ()))
        for key in {normalize(s) for s in spellings} - {""}:
            if lookup.setdefault(key, index) != index:
                ambiguous.add(key)
    for key in ambiguous:
        del lookup[key]
    return LabelSpace(labels=labels, lookup=lookup, names=frozenset(normalize(label) for label in labels))


def match_label(
    answer: str, space: LabelSpace, option_style: str = "none", ordinal: bool = False, letter_first: bool = False
) -> int | None:
    """Index of the single label ``answer`` names, or None.

    Accepted: a name or alias; with ``option_style`` "letter" ("A", "(A)", "A." up to "Z") or "number" ("1",
    "1)", up to three digits) the option token, 1-based as listed in the prompt (labels[0] is "A"/"1"); for
    ordinal tasks without numbered options a grade ``i`` = labels[i], as a number, number word or
    "grade"/"stage"/"level"/"class" + number or Roman numeral (with lettered or numbered options, "grade 2" counts
    only as a label name or alias). A token followed by text must be followed by its own label name ("B.
    melanoma").

    Precedence: a display name first (a label called "1" is label "1"; converters refuse an option style that
    collides with a name); then, when the prompt showed options, an option-shaped token ("1", "B") is only ever
    an option, even if an alias spells it (RetinaMNIST's official names "0".."4" with numbered options: "1" is
    option 1 = grade 0). A negative number ("-1", "grade -2") names nothing unless a label spells one.

    ``letter_first`` (multiple-choice questions, whose prompt asks for the letter): a lone option token is the
    option it letters even when an option's text spells it. MedXpertQA-MM has options whose texts are letters
    (MM-21: A "A", B "C", C "D", D "E", E "B"); read as text first, the right letter "B" would name option E.
    """
    norm = normalize(answer)
    if not norm:
        return None
    tokens = strip_lead_in(norm.split(" "))
    lone_option = len(tokens) == 1 and _option_shaped(tokens[0], option_style)
    if letter_first and lone_option:
        return _token_index(tokens[0], len(space.labels), option_style, ordinal, False)
    if norm in space.names or not tokens:
        return space.lookup.get(norm)
    if lone_option and tokens[0] not in space.names:
        return _token_index(tokens[0], len(space.labels), option_style, ordinal, False)
    index = space.lookup.get(norm)
    if index is not None:
        return index
    index = space.lookup.get(" ".join(tokens))
    if index is not None:
        return index
    first, rest = tokens[0], tokens[1:]
    roman_ok = False
    if ordinal and first in _GRADE_PREFIXES and rest:
        if option_style != "none":  # "grade 2" names grade 2, never option 2 (= grade 1) or option B
            return None
        first, rest, roman_ok = rest[0], rest[1:], True
    index = _token_index(first, len(space.labels), option_style, ordinal, roman_ok)
    if index is None or (rest and space.lookup.get(" ".join(rest)) != index):
        return None
    return index


def match_label_set(answer: str, space: LabelSpace, option_style: str = "none") -> tuple[int, ...] | None:
    """Sorted label indices of a multilabel answer, or None when any item is not a label.

    Accepted: a JSON list of names, or names separated by commas, semicolons, newlines or "and"; an explicit
    empty set ("[]", "none", "no finding"). One unknown item voids the list, so padding with near-miss names
    never pays. Naming every label is read as such; ``names_every_label`` lets the scorer refuse it.
    """
    text = answer.strip()
    norm = normalize(text)
    if text.startswith("["):
        items = _json_strings(text)
        if items is None:
            return None
    elif norm in _EMPTY_SET_WORDS and norm not in space.lookup:
        return ()
    else:
        items = [part for part in LIST_SEPARATORS.split(text) if normalize(part)]
        if not items:
            return None
    indices: set[int] = set()
    for item in items:
        index = match_label(item, space, option_style)
        if index is not None:
            indices.add(index)
            continue
        parts = normalize(item).split(" and ")
        if len(parts) < 2:
            return None
        for part in parts:
            index = match_label(part, space, option_style)
            if index is None:
                return None
            indices.add(index)
    return tuple(sorted(indices))


def names_every_label(label_set: tuple[int, ...], n_labels: int) -> bool:
    """The multilabel form of "repeat the label list": every label named (three or more). The scorer refuses it
    unless the ground truth is itself every label (a correct answer must be able to score)."""
    return n_labels >= 3 and len(set(label_set)) == n_labels


def strip_lead_in(tokens: list[str]) -> list[str]:
    """``tokens`` without one leading "the answer is" / "answer" / "option" ... (normalised tokens)."""
    for lead in _LEAD_INS:
        if tuple(tokens[: len(lead)]) == lead:
            return tokens[len(lead) :]
    return tokens


def _option_shaped(token: str, option_style: str) -> bool:
    """Whether ``token`` looks like an option of ``option_style`` (in range or not)."""
    if option_style == "letter":
        return len(token) == 1 and "a" <= token <= "z"
    if option_style == "number":
        return token.isascii() and token.isdigit() and len(token) <= 3
    return False


def _token_index(token: str, n_labels: int, option_style: str, ordinal: bool, roman_ok: bool) -> int | None:
    index = None
    if option_style == "letter":
        if len(token) == 1 and "a" <= token <= "z":
            index = ord(token) - ord("a")
    elif option_style == "number":
        if token.isascii() and token.isdigit() and len(token) <= 3:
            index = int(token) - 1
    elif ordinal:
        if token.isascii() and token.isdigit() and len(token) <= 3:
            index = int(token)
        else:
            index = _NUMBER_WORDS.get(token, _ROMAN.get(token) if roman_ok else None)
    return index if index is not None and 0 <= index < n_labels else None


def _json_strings(text: str) -> list[str] | None:
    value = json_or_list(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value
