"""Medical VQA answers: yes/no reading (closed questions) and token-level scores of free-text answers (open).

``open_scores`` is the one token-level scorer: the reward (``reward_fns.accuracy``) and the offline evaluation
both call it, so a training curve and an evaluation table measure the same thing. Its normalisation is the one the
VQA-RAD / SLAKE / PathVQA literature inherits from SQuAD (case, punctuation, articles, whitespace), plus number
words and decimal spellings ("two" = "2", "2.50" = "2.5").

Multiple-choice rows need nothing here: they reuse the strict single-label matcher (``reward_fns.labels``) with the
row's options as labels and lettered option tokens.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reward_fns.labels import normalize, strip_lead_in

# The two answers of a closed question, in label order (extra_info.labels = ["yes", "no"]).
CLOSED_ANSWERS = ("yes", "no")
# Whole-answer spellings of each polarity (as normalised by labels.normalize). Only a whole answer counts, which is
# what makes the reading negation-safe: "not yes", "not absent", "no, it is present", "yes and no" spell neither.
YES_SPELLINGS = frozenset({"yes", "yeah", "yep", "yup", "true", "present", "positive", "affirmative", "correct"})
NO_SPELLINGS = frozenset(
    {"no", "nope", "nah", "false", "absent", "negative", "incorrect", "not present", "not seen", "not visible"}
)

# Bounds of the open-answer normaliser: only the first MAX_OPEN_CHARS characters are read (the answer parser
# rejects longer answers anyway) and an answer of more than MAX_OPEN_TOKENS tokens is not an answer (far beyond the
# short reference answers of VQA-RAD, SLAKE and PathVQA; a longer reference makes its row ungradable).
MAX_OPEN_CHARS = 8192
MAX_OPEN_TOKENS = 256
ARTICLES = frozenset({"a", "an", "the"})
NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
# Words that join alternatives: an open answer holding one its reference lacks is a hedge and earns no task term.
HEDGE_WORDS = frozenset({"or", "either", "vs", "versus"})
# Words that negate a finding: an answer and its reference must agree on whether they hold one ("no pneumonia" is
# not "pneumonia", and shares its only finding word).
NEGATION_WORDS = frozenset({"no", "not", "without", "absent", "negative", "none", "non"})
# Sides: an answer naming a side must name the reference's sides ("left lower lobe" is not "right lower lobe").
SIDE_WORDS = frozenset({"left", "right", "bilateral", "both"})
# Word forms and abbreviations folded to one token (lungs/lung, CT/computed tomography, MR/MRI, x-ray/xray), from
# one cited data file.
TERMS_FILE = Path(__file__).with_name("data") / "medical_terms.json"
MAX_PHRASE_TOKENS = 4

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W_]+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_APOSTROPHES = re.compile(r"['\u2019\u02bc]")


@dataclass(frozen=True)
class OpenScores:
    """Token-level agreement of a free-text answer with its reference, every field in [0, 1].

    ``exact``: the normalised token sequences are equal. ``precision`` / ``recall`` / ``f1``: SQuAD's multiset
    token overlap. Two empty answers agree (all 1.0); one empty answer agrees with nothing (all 0.0).
    """

    exact: float
    precision: float
    recall: float
    f1: float

    @property
    def penalised_recall(self) -> float:
        """Recall times min(1, reference length / answer length), i.e. min(precision, recall): plain recall for
        answers no longer than the reference, shared credit for longer ones, so padding with candidates never pays.

        >>> open_scores("pneumonia edema effusion", "pneumonia").penalised_recall
        0.3333333333333333
        """
        return min(self.precision, self.recall)


def open_tokens(text: str) -> tuple[str, ...] | None:
    """Normalised tokens of a free-text answer, or None when it has more than ``MAX_OPEN_TOKENS``.

    Why each step: NFKC + casefold (width and case), apostrophes dropped ("patient's" = "patients"), thousands
    separators dropped ("1,000" = "1000"), punctuation splits words, articles removed, number words and
    decimal spellings folded, word forms and abbreviations folded (``TERMS_FILE``: "lungs" = "lung",
    "computed tomography" = "ct", "MR" = "MRI", "x-ray" = "xray"). Reads at most ``MAX_OPEN_CHARS`` characters.

    Args:
        text: the answer or reference text (anything else reads as empty).

    Returns:
        The tokens (possibly empty), or None for an over-long answer.

    >>> open_tokens("The LEFT lung's lower-lobe, 2.50 cm; two nodules")
    ('left', 'lung', 'lower', 'lobe', '2.5', 'cm', '2', 'nodule')
    >>> open_tokens("Computed tomography"), open_tokens("X-Ray"), open_tokens("MR")
    (('ct',), ('xray',), ('mri',))
    """
    if not isinstance(text, str):
        return ()
    text = unicodedata.normalize("NFKC", text[:MAX_OPEN_CHARS]).casefold()
    text = _THOUSANDS.sub("", _APOSTROPHES.sub("", text))
    tokens = []
    for match in _TOKEN.finditer(text):  # at most MAX_OPEN_CHARS / 2 matches
        token = _fold_number(match.group())
        if token not in ARTICLES:
            tokens.append(token)
            if len(tokens) > MAX_OPEN_TOKENS + MAX_PHRASE_TOKENS:
                return None
    folded = fold_terms(tokens)
    return folded if len(folded) <= MAX_OPEN_TOKENS else None


@cache
def _phrases() -> dict[tuple[str, ...], str]:
    """``TERMS_FILE``'s phrases as token tuples (read once)."""
    data = json.loads(TERMS_FILE.read_text(encoding="utf-8"))
    return {tuple(k.split()): v for k, v in data["phrases"].items()}


def fold_terms(tokens: list[str]) -> tuple[str, ...]:
    """Tokens with each listed word form or abbreviation (longest phrase first) replaced by its one token.

    >>> fold_terms(["magnetic", "resonance", "imaging", "of", "kidneys"])
    ('mri', 'of', 'kidney')
    """
    phrases = _phrases()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for n in range(min(MAX_PHRASE_TOKENS, len(tokens) - i), 0, -1):
            target = phrases.get(tuple(tokens[i : i + n]))
            if target is not None:
                out.append(target)
                i += n
                break
        else:
            out.append(tokens[i])
            i += 1
    return tuple(out)


def offered_alternatives(question: str) -> frozenset[str]:
    """The words next to each "or" of a question: the alternatives it offers ("Which is bigger, liver or
    spleen?" -> liver, spleen). An open answer naming one its reference lacks earns no task term, so listing
    the offered alternatives ("liver, spleen") never pays.

    >>> sorted(offered_alternatives("Which is bigger in this image, liver or spleen?"))
    ['liver', 'spleen']
    """
    tokens = open_tokens(question[:1024]) if isinstance(question, str) else None
    if not tokens:
        return frozenset()
    return frozenset(
        word
        for i, token in enumerate(tokens)
        if token == "or" and 0 < i < len(tokens) - 1
        for word in (tokens[i - 1], tokens[i + 1])
        if word not in HEDGE_WORDS
    )


def normalize_open(text: str) -> str:
    """The normalised answer text (tokens joined by spaces); "" for an empty or over-long answer.

    >>> normalize_open("A Hiatal Hernia.")
    'hiatal hernia'
    """
    return " ".join(open_tokens(text) or ())


def open_scores(pred: str, reference: str) -> OpenScores:
    """Exact match and token precision / recall / F1 of an answer against its reference (both normalised here).

    Args:
        pred: the model's answer (raw or already normalised: normalisation is idempotent).
        reference: the benchmark's reference answer.

    Returns:
        ``OpenScores`` with every field in [0, 1]; an over-long answer scores like an empty one.

    >>> open_scores("the right lower lobe", "Right lobe")
    OpenScores(exact=0.0, precision=0.6666666666666666, recall=1.0, f1=0.8)
    >>> open_scores("Two", "2").exact
    1.0
    """
    return scores_of_tokens(open_tokens(pred) or (), open_tokens(reference) or ())


def scores_of_tokens(pred: tuple[str, ...], ref: tuple[str, ...]) -> OpenScores:
    """``open_scores`` on already normalised tokens."""
    if not pred or not ref or pred == ref:
        same = float(pred == ref)
        return OpenScores(same, same, same, same)
    unmatched = Counter(ref)
    common = 0
    for token in pred:  # multiset overlap, without building three Counters
        if unmatched[token] > 0:
            unmatched[token] -= 1
            common += 1
    precision, recall = common / len(pred), common / len(ref)
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return OpenScores(exact=float(pred == ref), precision=precision, recall=recall, f1=f1)


def open_reward_term(
    pred: tuple[str, ...],
    ref: tuple[str, ...],
    mode: str,
    max_length_ratio: float,
    alternatives: frozenset[str] = frozenset(),
) -> tuple[OpenScores, float]:
    """The scores of an open answer and the task term the composite weights.

    The term is ``f1``, ``penalised_recall`` ("recall") or ``exact`` per ``mode``, and 0 when the answer
    contradicts or games its reference (``contradicts``). The scores themselves are left as measured.

    Args:
        pred: normalised answer tokens (``open_tokens``).
        ref: normalised reference tokens.
        mode: "f1", "recall" or "exact" (``RewardConfig.open_reward``).
        max_length_ratio: ``RewardConfig.open_max_length_ratio``.
        alternatives: the alternatives the question offers (``offered_alternatives``).

    Returns:
        (scores, term), term in [0, 1].

    >>> open_reward_term(("pneumonia", "or", "edema"), ("pneumonia",), "f1", 3.0)[1]
    0.0
    >>> open_reward_term(("no", "pneumonia"), ("pneumonia",), "recall", 3.0)[1]
    0.0
    """
    scores = scores_of_tokens(pred, ref)
    if contradicts(pred, ref, max_length_ratio, alternatives):
        return scores, 0.0
    term = {"f1": scores.f1, "recall": scores.penalised_recall, "exact": scores.exact}[mode]
    return scores, term


def contradicts(
    pred: tuple[str, ...], ref: tuple[str, ...], max_length_ratio: float, alternatives: frozenset[str] = frozenset()
) -> bool:
    """Whether an open answer earns no task term whatever its token overlap: padded (more than
    ``max_length_ratio`` times the reference's tokens), hedged (a word joining alternatives the reference lacks),
    of the other polarity (a negation on one side only: "no pneumonia" for "pneumonia"), of another side (a side
    word not the reference's: "left lower lobe" for "right lower lobe") or naming an alternative the question
    offered that the reference is not ("liver, spleen" for "liver" to "liver or spleen?").

    >>> contradicts(("left", "lower", "lobe"), ("right", "lower", "lobe"), 3.0)
    True
    >>> contradicts(("lower", "lobe"), ("right", "lower", "lobe"), 3.0)
    False
    """
    words, reference = set(pred), set(ref)
    sides = words & SIDE_WORDS
    return (
        len(pred) > max_length_ratio * len(ref)
        or not HEDGE_WORDS.isdisjoint(words - reference)
        or bool(words & NEGATION_WORDS) != bool(reference & NEGATION_WORDS)
        or (bool(sides) and sides != reference & SIDE_WORDS)
        or not alternatives.isdisjoint(words - reference)
    )


def read_yes_no(answer: str) -> str | None:
    """ "yes" or "no" when the whole answer (after one lead-in such as "the answer is") is one spelling of that
    polarity, else None.

    Args:
        answer: the content of the answer block.

    Returns:
        "yes", "no" or None (hedges, negated words, mixed polarities, sentences).

    >>> [read_yes_no(a) for a in ("Yes.", "**Absent**", "The answer is: no", "not yes", "no, it is present")]
    ['yes', 'no', 'no', None, None]
    """
    norm = normalize(answer[:64]) if isinstance(answer, str) and len(answer) <= 64 else ""
    if not norm:
        return None
    tokens = strip_lead_in(norm.split(" "))
    phrase = " ".join(tokens)
    if phrase in YES_SPELLINGS:
        return "yes"
    if phrase in NO_SPELLINGS:
        return "no"
    return None


def _fold_number(token: str) -> str:
    """Number words to digits, and one spelling per number: "007" -> "7", "2.50" -> "2.5", "3.0" -> "3"."""
    if token in NUMBER_WORDS:
        return NUMBER_WORDS[token]
    if not token[0].isdigit() or not token.isascii():
        return token
    whole, _, frac = token.partition(".")
    whole = whole.lstrip("0") or "0"
    frac = frac.rstrip("0")
    return f"{whole}.{frac}" if frac else whole
