"""Specifications of ``reward_fns.vqa``'s readers at their documented and coded bounds: the alternatives a
question offers (an "or" between two words, the first 1024 characters read) and the closed-answer reader's 64
characters. Each test names the mutants it kills (a mutation run of vqa.py found these bounds untested).
"""

from __future__ import annotations

import pytest

from reward_fns.vqa import MAX_OPEN_TOKENS, MAX_PHRASE_TOKENS, offered_alternatives, open_tokens, read_yes_no


def test_an_or_between_the_first_two_words_offers_both():
    """Kills: the "or" position bound raised from 0 < i to 1 < i (a question that starts with the first
    alternative, "Liver or spleen?", would offer nothing)."""
    assert offered_alternatives("Liver or spleen?") == {"liver", "spleen"}


@pytest.mark.parametrize("question", ["Or is it the liver?", "Is it the liver or"], ids=["first", "last"])
def test_an_or_without_a_word_on_each_side_offers_nothing(question):
    """Kills: ``0 <= i`` (an "or" first pairs the last word with the second: ``tokens[-1]``), ``i <= len - 1`` and
    ``i < len + 1`` (an "or" last reads past the end: IndexError)."""
    assert offered_alternatives(question) == frozenset()


def test_a_question_that_is_not_text_offers_nothing():
    """Kills: the ``isinstance(question, str)`` guard forced true (slicing None raises)."""
    assert offered_alternatives(None) == frozenset()


def test_only_the_first_1024_characters_of_a_question_are_read():
    """The "or" ends at character 1023: its right-hand word starts at 1024, outside what is read. Kills: the
    slice widened to 1025 (the pair would then be offered)."""
    prefix = "w" * 1017 + " "
    assert offered_alternatives(prefix[1:] + "aa or b") == {"aa", "b"}  # one character earlier: inside
    assert offered_alternatives(prefix + "aa or b") == frozenset()


def test_a_closed_answer_is_read_up_to_64_characters():
    """Kills: the length bound lowered to ``< 64`` (a 64-character answer unread) or raised to ``<= 65``."""
    assert read_yes_no("yes" + " " * 61) == "yes"
    assert read_yes_no("yes" + " " * 62) is None  # its first 64 characters alone would read "yes"


def test_a_number_with_non_ascii_digits_is_kept_as_written():
    """Only ASCII numbers get one spelling ("007" -> "7"); a token of other digits (Arabic-Indic here) is no number
    the folding knows. Kills: ``or`` -> ``and`` in the number test (its leading ASCII zero would be dropped)."""
    assert open_tokens("0٣ 007") == ("0٣", "7")


def test_an_answer_of_exactly_the_raw_token_bound_is_read_when_it_folds_within_the_cap():
    """The early exit allows ``MAX_OPEN_TOKENS + MAX_PHRASE_TOKENS`` raw tokens, since phrases fold ("computed
    tomography" -> "ct"). Kills: ``>=`` for ``>`` there (such an answer would be refused as over-long)."""
    k, n = MAX_PHRASE_TOKENS, MAX_OPEN_TOKENS + MAX_PHRASE_TOKENS
    text = " ".join(["computed tomography"] * k + ["x"] * (n - 2 * k))
    tokens = open_tokens(text)
    assert tokens is not None and len(tokens) == MAX_OPEN_TOKENS and tokens[:k] == ("ct",) * k
    assert open_tokens(text + " x") is None  # one raw token more: refused before folding
