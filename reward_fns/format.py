"""The ``<think>...</think><answer>...</answer>`` layout: the strict format check and the blocks it delimits.

Linear time by construction: tags are located with ``str.count``/``str.find`` (no regex, so no back-tracking on
adversarial input such as 100 KB of unbalanced or nested tags).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Blocks:
    format_ok: bool
    think: str  # content of the single think block, stripped; "" when there is none or several
    answer: str | None  # content of the single valid answer block, stripped; None when there is none


def split_blocks(text: str, think_tag: str = "think", answer_tag: str = "answer", think: str = "required") -> Blocks:
    """Locate the think and answer blocks of ``text`` and check the strict format.

    ``think="forbidden"`` (the no-think control row) is the answer-only layout: see ``_answer_only``.

    Format (``format_ok``): exactly one think block followed by exactly one answer block, both non-blank,
    nothing but whitespace around them. An empty ``<think></think><answer></answer>`` earns no format credit,
    which removes the cheapest format-only plateau.

    Answer (``answer``), judged apart from the format so a correct but untidy answer still counts: exactly one
    ``<answer>`` and one ``</answer>``, in this order, and no think tag inside it or after it, and not inside an
    unclosed think block. Hence no credit for answers hidden in the reasoning, for several answer blocks (even
    agreeing ones: a second block is never needed, and voting among blocks invites hedging), or for truncated
    responses.
    """
    t_open, t_close = f"<{think_tag}>", f"</{think_tag}>"
    a_open, a_close = f"<{answer_tag}>", f"</{answer_tag}>"
    if think == "forbidden":
        return _answer_only(text, (t_open, t_close), (a_open, a_close))
    n_t_open, n_t_close = text.count(t_open), text.count(t_close)
    n_a_open, n_a_close = text.count(a_open), text.count(a_close)

    think = ""
    ti = tj = -1
    if n_t_open == 1 and n_t_close == 1:
        ti, tj = text.find(t_open), text.find(t_close)
        if ti < tj:
            think = text[ti + len(t_open) : tj].strip()

    answer = None
    ai = aj = -1
    if n_a_open == 1 and n_a_close == 1:
        ai, aj = text.find(a_open), text.find(a_close)
        last_think_open = text.rfind(t_open, 0, ai)
        if (
            ai < aj
            and text.find(t_open, ai) == -1
            and text.find(t_close, ai) == -1
            and (last_think_open == -1 or text.find(t_close, last_think_open, ai) != -1)
        ):
            answer = text[ai + len(a_open) : aj].strip()

    format_ok = (
        bool(think)
        and bool(answer)
        and _blank(text[:ti])
        and _blank(text[tj + len(t_close) : ai])
        and _blank(text[aj + len(a_close) :])
    )
    return Blocks(format_ok=format_ok, think=think, answer=answer)


def _answer_only(text: str, think_tags: tuple[str, str], answer_tags: tuple[str, str]) -> Blocks:
    """The answer-only layout: exactly one non-blank answer block, nothing but whitespace around it.

    A think tag anywhere (opening or closing, before, inside or after the answer) voids the answer as well as the
    format, so a control row asked not to think is never paid for thinking in tags. Reasoning written as plain
    text outside the block loses the format credit but, as in the think layout, not the answer.
    """
    if any(tag in text for tag in think_tags):
        return Blocks(format_ok=False, think="", answer=None)
    a_open, a_close = answer_tags
    if text.count(a_open) != 1 or text.count(a_close) != 1:
        return Blocks(format_ok=False, think="", answer=None)
    ai, aj = text.find(a_open), text.find(a_close)
    if ai > aj:
        return Blocks(format_ok=False, think="", answer=None)
    answer = text[ai + len(a_open) : aj].strip()
    format_ok = bool(answer) and _blank(text[:ai]) and _blank(text[aj + len(a_close) :])
    return Blocks(format_ok=format_ok, think="", answer=answer)


def _blank(s: str) -> bool:
    return not s or s.isspace()
