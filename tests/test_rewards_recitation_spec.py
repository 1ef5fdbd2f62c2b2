"""Specification of ``recitation.tokenize``'s bounds with a token cap: at most ``max_tokens`` whole words, found in
at most ``32 * max_tokens`` characters. Names the mutants of its windowed fast path it kills (a run of the
expensive recitation mutants found these bounds untested)."""

from __future__ import annotations

from reward_fns.recitation import tokenize


def test_only_the_first_32_times_max_tokens_characters_are_read():
    """Kills: the read bound widened to 33 x max_tokens."""
    assert tokenize("a" + " " * 63 + "b", max_tokens=2) == ["a"]
    assert tokenize("a" + " " * 62 + "b", max_tokens=2) == ["a", "b"]  # inside the bound: read


def test_a_word_cut_by_the_fast_window_is_read_whole():
    """The fast path reads 8 x max_tokens characters; a word crossing that end must not come back cut. Kills: the
    fast path taken with exactly max_tokens words in the window (``>=``)."""
    assert tokenize("a " + "b" * 17, max_tokens=2) == ["a", "b" * 17]


def test_words_past_the_fast_window_are_read():
    """Kills: the whole-text test of the fast path widened to 9 x max_tokens (a word between 8 and 9 x max_tokens
    characters would be lost)."""
    assert tokenize("a" + " " * 16 + "b", max_tokens=2) == ["a", "b"]
