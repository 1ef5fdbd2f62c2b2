"""An optional local LLM judge of open VQA answers (``verl-med-eval --judge MODEL``), reported beside exact match and
recall, as MedEvalKit judges open answers with an LLM (there GPT-4.1, ``utils/utils.py`` ``get_compare_messages``).

Any local Hugging Face model folder vLLM loads; one fixed prompt, versioned (``PROMPT_VERSION``: change the version
with the text), temperature 0, and a cache of verdicts keyed by version, model, question, reference and answer,
so a rerun or a second run sharing answers asks nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PROMPT_VERSION = "verl-med-judge-v1"
PROMPT = (
    "You grade answers to medical image questions. Decide whether the candidate answer means the same as the "
    "reference answer for this question (a synonym, an abbreviation or another spelling of the same finding is "
    "the same; another finding, another side, a negation, or several alternatives are not).\n"
    "Question: {question}\n"
    "Reference answer: {reference}\n"
    "Candidate answer: {answer}\n"
    "Reply with exactly one word inside tags: <judge>correct</judge> or <judge>incorrect</judge>."
)
MAX_FIELD_CHARS = 1000  # question, reference and answer are cut here (a prompt stays short whatever the answer)
MAX_NEW_TOKENS = 16
_VERDICT = re.compile(r"<judge>\s*(correct|incorrect)\s*</judge>", re.IGNORECASE)

Generate = Callable[[list[str]], list[str]]


def judge_prompt(question: str, reference: str, answer: str) -> str:
    """The judge's user message for one answer (``PROMPT`` with each field cut to ``MAX_FIELD_CHARS``).

    >>> "Reference answer: liver" in judge_prompt("Which organ?", "liver", "the liver")
    True
    """
    return PROMPT.format(
        question=question[:MAX_FIELD_CHARS], reference=reference[:MAX_FIELD_CHARS], answer=answer[:MAX_FIELD_CHARS]
    )


def parse_verdict(text: str) -> bool | None:
    """True / False from the judge's reply (the last ``<judge>`` tag), None when it gives no verdict.

    >>> parse_verdict("<judge>correct</judge>"), parse_verdict("<judge> Incorrect </judge>"), parse_verdict("yes")
    (True, False, None)
    """
    found = _VERDICT.findall(text[-4096:] if isinstance(text, str) else "")
    return None if not found else found[-1].lower() == "correct"


def cache_key(model: str, question: str, reference: str, answer: str) -> str:
    """The cache key of one verdict: prompt version, model, and the three texts."""
    payload = json.dumps([PROMPT_VERSION, model, question, reference, answer], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def judge_answers(
    items: Sequence[tuple[str, str, str]], model: str, generate: Generate, cache_path: Path | None
) -> list[bool | None]:
    """Verdicts on (question, reference, answer) items: from the cache, else asked (once per distinct item) and
    cached. The cache file is rewritten whole (a few bytes per verdict)."""
    cache: dict[str, bool | None] = {}
    if cache_path is not None and cache_path.is_file():
        cache = json.loads(cache_path.read_text(encoding="utf-8"))
    keys = [cache_key(model, *item) for item in items]
    todo = {k: item for k, item in zip(keys, items, strict=True) if k not in cache}
    if todo:
        replies = generate([judge_prompt(*item) for item in todo.values()])
        cache.update({k: parse_verdict(reply) for k, reply in zip(todo, replies, strict=True)})
        if cache_path is not None:
            from data_preprocess.atomic import atomic_path

            cache_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cache_path) as tmp:
                Path(tmp).write_text(json.dumps(cache, sort_keys=True), encoding="utf-8")
    return [cache[k] for k in keys]


def vllm_generate(model: str, seed: int = 0) -> Generate:
    """A generate function over a local model through vLLM: its chat template, temperature 0, ``MAX_NEW_TOKENS``."""

    def generate(prompts: list[str]) -> list[str]:
        from vllm import LLM, SamplingParams  # lazy: the judge is optional

        llm = LLM(model=model, seed=seed, max_model_len=2048, enforce_eager=True)
        params = SamplingParams(temperature=0.0, max_tokens=MAX_NEW_TOKENS, seed=seed)
        conversations: list[Any] = [[{"role": "user", "content": p}] for p in prompts]
        outputs = llm.chat(conversations, params, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]

    return generate


def judge_figures(verdicts: Sequence[bool | None], model: str) -> dict[str, object]:
    """The judge's figures on one dataset's open answers: accuracy over the verdicts given, and what it could not
    judge (no verdict), beside the exact match and recall of the same answers.

    >>> judge_figures([True, False, None], "m")["accuracy"]
    0.5
    """
    given = [v for v in verdicts if v is not None]
    return {
        "model": model,
        "prompt_version": PROMPT_VERSION,
        "n_open": len(verdicts),
        "n_no_verdict": len(verdicts) - len(given),
        "accuracy": sum(given) / len(given) if given else None,
    }
