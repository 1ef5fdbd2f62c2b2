"""Recitation cannot be gamed: multi-reference BLEU with the brevity penalty, equal to sacrebleu.

The thinks are scored against a real knowledge card (DermaMNIST) as the converters render it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rewards_rows import derma, respond
from sacrebleu.metrics import BLEU

from data_preprocess.knowledge import class_findings, load_card, render_knowledge
from reward_fns import compute_score
from reward_fns.recitation import MIN_REFERENCE_TOKENS, recitation_bleu, reference_lines, tokenize

CARD_KNOWLEDGE = render_knowledge(load_card("dermamnist"))
CLASS_LINE = "- melanoma: " + class_findings(CARD_KNOWLEDGE, "melanoma")
PARAPHRASE = (
    "Melanoma is asymmetric in colour and structure, with many colours such as brown, black and blue, an "
    "atypical network, irregular streaks at the border and a bluish white veil."
)
REASONING = (
    "The lesion is asymmetric with at least three colours, light brown, dark brown and blue-grey. The "
    "pigment network is broken and irregular at the lower edge, with a few streaks. There is no arborising "
    "vessel or milia-like cyst, so a keratosis or basal cell carcinoma is unlikely. Together these point to "
    "melanoma."
)


def recite(think: str, **kwargs) -> float:
    """The recite component of compute_score with the default settings, as a training run computes it."""
    result = compute_score(
        "verl_med/dermamnist",
        respond("melanoma", think=think),
        "melanoma",
        derma(knowledge=CARD_KNOWLEDGE),
        recite_delta=1.0,
        **kwargs,
    )
    return float(result["recite"])


@pytest.mark.parametrize(
    "think",
    [
        ".",
        "...!?",
        "the",
        "melanoma",
        "pigment",
        "pigment network",
        "the melanoma",
        "Distinguishing findings",
        "- melanoma:",
    ],
)
def test_short_thinks_of_knowledge_tokens_earn_well_under_0_3(think):
    """Punctuation-only, one-word and two-word thinks earned 1.0 (precision only); now the brevity penalty."""
    assert recite(think) < 0.1


def test_header_line_is_not_a_short_reference():
    """'Distinguishing findings per class:' (4 tokens) is joined to the next line, so copying it is not a
    cheap 1.0."""
    assert recite("Distinguishing findings per class:") < 0.3
    assert min(len(ref) for ref in reference_lines(CARD_KNOWLEDGE)) >= MIN_REFERENCE_TOKENS


def test_verbatim_class_line_high_paraphrase_between_reasoning_low():
    verbatim, paraphrase, reasoning = recite(CLASS_LINE), recite(PARAPHRASE), recite(REASONING)
    two_words = recite("pigment network")
    assert verbatim == pytest.approx(1.0)
    assert verbatim > 0.5 > paraphrase > two_words
    assert reasoning < 0.3
    assert recite(CARD_KNOWLEDGE) == pytest.approx(1.0)  # copying everything is the most recitation there is


def test_repeating_one_word_or_line_does_not_pay():
    assert recite("melanoma " * 40) < 0.05
    assert recite(" ".join([CLASS_LINE] * 5)) < recite(CLASS_LINE)


def test_brevity_penalty_off_is_precision_only():
    """The ablation switch restores the old behaviour (a one-word think scores 1): never a training setting."""
    assert recite("melanoma", recite_brevity_penalty=False) == pytest.approx(1.0)


def sacrebleu_multi_reference(text: str, knowledge: str, order: int, smooth: str) -> float:
    """sacrebleu's own sentence BLEU with each reference line as one reference string."""
    bleu = BLEU(tokenize="none", smooth_method=smooth, max_ngram_order=order, effective_order=True)
    refs = [" ".join(ref) for ref in reference_lines(knowledge)]
    return bleu.sentence_score(" ".join(tokenize(text)), refs).score / 100


VOCAB = tokenize(CARD_KNOWLEDGE)[:80] + [",", ".", "(", "lesion", "é", "Melanoma"]


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.sampled_from(VOCAB), max_size=70),
    order=st.integers(1, 6),
    smooth=st.sampled_from(["exp", "floor", "add-k", "none"]),
    knowledge=st.sampled_from([CARD_KNOWLEDGE, render_knowledge(load_card("retinamnist")), "one short line"]),
)
def test_recitation_equals_sacrebleu_multi_reference_sentence_bleu(words, order, smooth, knowledge):
    text = " ".join(words)
    expected = sacrebleu_multi_reference(text, knowledge, order, smooth) if tokenize(text) else 0.0
    assert recitation_bleu(text, knowledge, order=order, smooth=smooth) == pytest.approx(expected, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(hyp_len=st.integers(1, 300), lengths=st.lists(st.integers(1, 200), min_size=1, max_size=12))
def test_closest_reference_length_is_sacrebleus(hyp_len, lengths):
    """Ties go to the shorter reference, as in ``BLEU._get_closest_ref_len``."""
    knowledge = "\n".join(" ".join(f"w{i}" for i in range(n + MIN_REFERENCE_TOKENS)) for n in lengths)
    from reward_fns.recitation import _reference

    ref = _reference(knowledge, 4)
    expected = BLEU(tokenize="none")._get_closest_ref_len(hyp_len, [len(r) for r in reference_lines(knowledge)])
    assert ref.closest_length(hyp_len) == expected


def test_whole_card_mode_scores_a_copied_line_near_zero_and_the_card_one():
    """``recite_mode: whole_card`` (the paper's literal reading, one BLEU against the whole card) against
    ``per_line``: a verbatim class line is recitation per line (about 1) but a small part of the card (about 0);
    the whole card is 1 in both. The value is sacrebleu's sentence BLEU with the card as its one reference.

    Mutation checked: ``whole_card`` falling back to the per-line references fails the copied-line bound."""
    assert recite(CLASS_LINE) > 0.9
    assert recite(CLASS_LINE, recite_mode="whole_card") < 0.05
    assert recite(CARD_KNOWLEDGE, recite_mode="whole_card") == pytest.approx(1.0)
    bleu = BLEU(tokenize="none", smooth_method="exp", max_ngram_order=4, effective_order=True)
    for text in (CLASS_LINE, REASONING, CARD_KNOWLEDGE[: len(CARD_KNOWLEDGE) // 2]):
        expected = bleu.sentence_score(" ".join(tokenize(text)), [" ".join(tokenize(CARD_KNOWLEDGE))]).score / 100
        assert recite(text, recite_mode="whole_card") == pytest.approx(expected, abs=1e-9)
    from reward_fns.config import reward_config

    with pytest.raises(ValueError, match="recite_mode"):
        reward_config({"recite_mode": "card"})


def test_think_length_and_recitation_are_logged_whatever_the_delta():
    """Every run logs its reasoning length and recitation (verl averages each reward key into the step's
    metrics), the V-RFT and knowledge rows (δ = 0) included; the score is unchanged by them when δ = 0.

    Mutation checked: computing ``recite`` only when ``recite_delta`` is non-zero (the old rule) fails."""
    response = respond("melanoma", think=CLASS_LINE)
    info = derma(knowledge=CARD_KNOWLEDGE)
    logged = compute_score("verl_med/dermamnist", response, "melanoma", info)
    assert logged["recite"] > 0.9 and logged["think_len"] == len(tokenize(CLASS_LINE))
    plain = compute_score("verl_med/dermamnist", respond("melanoma", think="x"), "melanoma", info)
    assert logged["score"] == plain["score"]  # δ = 0: logged, not rewarded
    assert compute_score("verl_med/dermamnist", "no tags", "melanoma", info)["think_len"] == 0.0
