"""Recitation (VRFT-Aug §2.3): multi-reference sentence BLEU of the reasoning against the injected knowledge.

The knowledge is scored as several references, one per line (``render_knowledge`` writes one line per class),
plus the whole text, with BLEU's standard brevity penalty against the closest reference length: sacrebleu's
multi-reference sentence BLEU (counts clipped at the maximum over references, closest reference length with ties
to the shorter one). Why: with the whole knowledge as one reference and no brevity penalty, BLEU was n-gram
precision only, and a think of ``.``, ``the`` or any single knowledge word earned 1.0 while real reasoning earned
about 0.1. Now short thinks pay the brevity penalty, a verbatim class line earns 1.0 and a paraphrase
sits between. Two further guards against cheap thinks:

- Tokens are case-folded words (``\\w+``); punctuation-only tokens are dropped, so ``.`` is an empty think (0).
- A line of fewer than ``MIN_REFERENCE_TOKENS`` tokens (a header such as "Distinguishing findings per class:")
  is joined to the next line, so no reference is short enough for a few-word think to escape the penalty.

The BLEU arithmetic is sacrebleu's ``BLEU.compute_bleu``; this module only supplies its sufficient statistics,
for speed (reference n-grams counted once per knowledge text; of the hypothesis only the n-grams the references
contain are counted, by a C-level filter, and an order stops when the previous one matched nothing) and memory
(sacrebleu's 13a tokenizer memoises 65,536 inputs). ``tests/test_rewards_recitation.py`` checks equality with
``BLEU.sentence_score``. The hypothesis is cut to ``max_tokens`` tokens, bounding the cost of adversarial input.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

from sacrebleu.metrics import BLEU

_TOKEN = re.compile(r"\w+")
# Shorter knowledge lines are joined to the next one: a 2-word think pays BP <= e^(1 - 12/2) = 0.007, 4 words 0.14.
MIN_REFERENCE_TOKENS = 12


def tokenize(text: str, max_tokens: int | None = None) -> list[str]:
    """Case-folded words (punctuation dropped); at most ``max_tokens`` of them, found in at most ``32 *
    max_tokens`` characters, with regex work bounded by ``max_tokens`` matches whatever the text."""
    if max_tokens is None:
        return _TOKEN.findall(text.casefold())
    text = text[: 32 * max_tokens].casefold()
    head = _TOKEN.findall(text, 0, 8 * max_tokens)  # ordinary prose: all of it, in one C call
    # The window may cut its last word: the first max_tokens are whole only when another token follows them.
    if len(head) > max_tokens or len(text) <= 8 * max_tokens:
        return head[:max_tokens]
    return [m.group() for m in islice(_TOKEN.finditer(text), max_tokens)]  # long tokens: stop at the cap


RECITE_MODES = ("per_line", "whole_card")


def reference_lines(knowledge: str, mode: str = "per_line") -> list[list[str]]:
    """The references of a knowledge text: ``per_line``: the tokens of each line, a line shorter than
    ``MIN_REFERENCE_TOKENS`` joined to the next (the last one to the previous), and the whole text; ``whole_card``:
    the whole text alone (the paper's literal reading: one BLEU against the card)."""
    if mode == "whole_card":
        whole = tokenize(knowledge)
        return [whole] if whole else []
    refs: list[list[str]] = []
    pending: list[str] = []
    for line in knowledge.splitlines():
        pending += tokenize(line)
        if len(pending) >= MIN_REFERENCE_TOKENS:
            refs.append(pending)
            pending = []
    if pending:
        if refs:
            refs[-1] = refs[-1] + pending
        else:
            refs.append(pending)
    if len(refs) > 1:  # copying the whole knowledge is recitation too: it scores 1, not clipped per line
        refs.append([t for ref in refs for t in ref])
    return refs


def recitation_bleu(
    text: str,
    knowledge: str,
    *,
    order: int = 4,
    smooth: str = "exp",
    brevity_penalty: bool = True,
    max_tokens: int = 1024,
    mode: str = "per_line",
) -> float:
    """Multi-reference BLEU in [0, 1] of ``text`` against the lines of ``knowledge`` (``mode="whole_card"``: against
    the whole knowledge as one reference); 0 when either is empty.

    ``brevity_penalty=False`` gives n-gram precision only, which a one-word think maximises: an ablation switch,
    not a setting for training."""
    tokens = tokenize(text, max_tokens)
    reference = _reference(knowledge, order, mode) if tokens and knowledge else None
    if reference is None:
        return 0.0
    correct: list[int] = []
    total: list[int] = []
    for n, ref_counts in enumerate(reference.ngrams, start=1):
        total.append(max(0, len(tokens) - n + 1))
        if n > 1 and not correct[-1]:
            correct.append(0)  # no (n-1)-gram matched, so no n-gram can
            continue
        # Count only the hypothesis n-grams the references contain (a C-level filter): the others clip to 0.
        grams = tokens if n == 1 else zip(*(tokens[i:] for i in range(n)), strict=False)
        matched = Counter(filter(ref_counts.__contains__, grams))
        correct.append(sum(map(min, matched.values(), map(ref_counts.__getitem__, matched))))  # clipped, in C
    score = BLEU.compute_bleu(
        correct=correct,
        total=total,
        sys_len=len(tokens),
        ref_len=reference.closest_length(len(tokens)) if brevity_penalty else len(tokens),
        smooth_method=smooth,
        effective_order=True,
        max_ngram_order=order,
    ).score
    return min(1.0, max(0.0, score / 100.0))


@dataclass(frozen=True)
class _Reference:
    ngrams: tuple[Counter, ...]  # n-gram counts for n = 1..order (str, then tuples), the maximum over references
    lengths: tuple[int, ...]  # distinct reference lengths, ascending

    def closest_length(self, hyp_len: int) -> int:
        """sacrebleu's closest reference length: smallest |ref - hyp|, ties to the shorter reference."""
        i = bisect_left(self.lengths, hyp_len)
        if i == len(self.lengths):
            return self.lengths[-1]
        if i == 0 or self.lengths[i] == hyp_len:
            return self.lengths[i]
        below, above = self.lengths[i - 1], self.lengths[i]
        return below if hyp_len - below <= above - hyp_len else above


@lru_cache(maxsize=64)
def _reference(knowledge: str, order: int, mode: str = "per_line") -> _Reference | None:
    refs = reference_lines(knowledge, mode)
    if not refs:
        return None
    ngrams = []
    for n in range(1, order + 1):
        merged: Counter = Counter()
        for ref in refs:
            merged |= _ngrams(ref, n)  # Counter union keeps the maximum count
        ngrams.append(merged)
    return _Reference(tuple(ngrams), tuple(sorted({len(r) for r in refs})))


def _ngrams(tokens: list[str], n: int) -> Counter:
    """Counts of n consecutive tokens: the tokens themselves for n = 1, tuples of n tokens above."""
    return Counter(tokens if n == 1 else zip(*(tokens[i:] for i in range(n)), strict=False))
