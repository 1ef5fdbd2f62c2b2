"""Open VQA answers against their reference: the other polarity, the other side and the listing of the
alternatives a question offers earn no task term; word forms and abbreviations from the one data file
(``reward_fns/data/medical_terms.json``) earn full credit. Each test names the mutation it was checked under."""

from __future__ import annotations

import json

import pytest
from rewards_rows import respond

from data_preprocess.schema import make_extra_info
from reward_fns import compute_score
from reward_fns.vqa import TERMS_FILE, offered_alternatives, open_scores, open_tokens

FORMAT_ONLY = 0.1  # format_weight 1 x the format term 0.1 (docs/rewards.md): no task term


def _open(question: str = "Where is the lesion?") -> dict:
    return make_extra_info(dataset="slake", task_type="open", labels=[], question=question, answer="x")


def _score(answer: str, reference: str, question: str = "Where is the lesion?") -> dict:
    return compute_score("verl_med/slake", respond(answer), reference, _open(question))


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("no pneumonia", "pneumonia"),
        ("pneumonia", "no pneumonia"),
        ("without effusion", "pleural effusion"),
        ("non small cell carcinoma", "small cell carcinoma"),
    ],
)
def test_the_other_polarity_earns_no_task_term(answer, reference):
    """Mutation checked: dropping the NEGATION_WORDS line of ``contradicts`` -> "no pneumonia" earns 0.5 + 0.1."""
    result = _score(answer, reference)
    assert result["score"] == pytest.approx(FORMAT_ONLY) and result["acc"] == 0.0
    assert result["token_f1"] > 0  # the words are shared: only the guard takes the credit away


@pytest.mark.parametrize(
    ("answer", "reference"),
    [("left lower lobe", "right lower lobe"), ("right kidney", "left kidney"), ("left and right lung", "right lung")],
)
def test_the_other_side_earns_no_task_term(answer, reference):
    """Mutation checked: dropping the SIDE_WORDS line of ``contradicts`` -> "left lower lobe" earns 2/3 + 0.1."""
    assert _score(answer, reference)["score"] == pytest.approx(FORMAT_ONLY)


def test_the_right_polarity_and_side_still_score():
    """The guards take nothing from a correct answer, nor from one leaving the side out (partial credit)."""
    assert _score("No pneumonia.", "no pneumonia")["score"] == pytest.approx(1.1)
    assert _score("Right lower lobe", "right lower lobe")["score"] == pytest.approx(1.1)
    assert _score("lower lobe", "right lower lobe")["score"] == pytest.approx(FORMAT_ONLY + 2 / 3)


SLAKE_SIZE = "Which is bigger in this image, liver or spleen?"  # BoKelvin/SLAKE train.json, content_type "Size"


@pytest.mark.parametrize("answer", ["liver, spleen", "spleen and liver", "Liver spleen"])
def test_listing_the_offered_alternatives_earns_nothing(answer):
    """Mutation checked: ``alternatives`` not passed by ``score_task`` (the default empty set) -> "liver, spleen"
    earns the penalised recall 0.5 + 0.1."""
    assert _score(answer, "Liver", SLAKE_SIZE)["score"] == pytest.approx(FORMAT_ONLY)
    assert _score("liver", "Liver", SLAKE_SIZE)["score"] == pytest.approx(1.1)


def test_offered_alternatives_are_the_words_around_or():
    assert offered_alternatives(SLAKE_SIZE) == {"liver", "spleen"}
    assert offered_alternatives("Is the lesion in the left or right lung?") == {"left", "right"}
    assert offered_alternatives("What organ is shown?") == frozenset()
    assert offered_alternatives("x" * 1_000_000 + " or y") == frozenset()  # only the first 1,024 characters


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("lungs", "Lung"),
        ("the kidneys", "kidney"),
        ("CT", "computed tomography"),
        ("CT scan", "CT"),
        ("MR", "MRI"),
        ("Magnetic Resonance Imaging", "MRI"),
        ("xray", "X-Ray"),
        ("x-ray", "xray"),
        ("both lungs", "both lung"),
    ],
)
def test_word_forms_and_abbreviations_match(answer, reference):
    """Mutation checked: ``fold_terms`` returning its tokens unchanged -> each pair scores exact 0."""
    assert open_scores(answer, reference).exact == 1.0
    assert _score(answer, reference)["acc"] == 1.0


def test_the_terms_file_is_one_consistent_table():
    """Every phrase is written as the tokeniser reads it (else it could never match) and maps to one token that
    is not itself folded again (else the table would depend on its order). Mutation checked: a phrase written
    "X-ray" -> the first assertion fails."""
    phrases = json.loads(TERMS_FILE.read_text())["phrases"]
    from reward_fns.vqa import _TOKEN

    for phrase, target in phrases.items():
        assert [m.group() for m in _TOKEN.finditer(phrase)] == phrase.split(), phrase
        assert len(target.split()) == 1 and open_tokens(target) == (target,), target


def test_a_megabyte_question_and_answer_stay_bounded():
    """Garbage in the row's question and the answer: a score in bounds, no exception."""
    info = _open("liver or " * 120_000)
    result = compute_score("verl_med/slake", respond("spleen " * 150_000), "liver", info)
    assert 0.0 <= result["score"] <= 1.1 and result["acc"] == 0.0
