"""Throughput and worst-case latency of ``reward_fns.compute_score`` against verl's geo3k scorer.

    python benchmarks/bench_rewards.py [--n 4096] [--repeats 5] [--out benchmarks/results/rewards.json]

The mix covers every task type: MedMNIST classification, ordinal grading (MFRS), recitation, grounding and the
medical VQA types (multiple choice, yes/no, open free text). Both scorers are called the way verl's reward loop
calls them: ours through verl's ``get_custom_reward_fn`` wrapper
(reward_kwargs merged from an OmegaConf config, so nested values are ListConfig), geo3k through
``default_compute_score``. Responses are 200-600 tokens (about 150-450 words of reasoning) with the same share of
correct answers on both sides. Times are the minimum over repeats (the least disturbed run on a shared machine);
ratios compare figures measured in the same run. Single process, single core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rewards_rows import KNOWLEDGE, ROWS  # noqa: E402

WORDS = (
    "the lesion shows an irregular border with asymmetric pigmentation and a blue white veil while the "
    "surrounding skin appears normal so the pattern suggests a melanocytic process rather than a vascular one "
    "given the atypical network and regression structures"
).split()
GEO_WORDS = "the angle ABC equals the sum of the two remote interior angles so x plus 30 equals 90 hence".split()
KNOWLEDGE_WORDS = KNOWLEDGE.split()
REWARD_KWARGS = {"format_weight": 0.1, "mfrs_table": [1.0, 0.25, 0.0625, 0.0], "recite_delta": -0.5}


def think_text(rng: random.Random, recite: bool) -> str:
    n = rng.randint(150, 450)
    words = [rng.choice(WORDS) for _ in range(n)]
    if recite:  # copy a few stretches of the knowledge, as a model under a recitation reward does
        for _ in range(rng.randint(1, 4)):
            start = rng.randrange(len(KNOWLEDGE_WORDS) - 8)
            at = rng.randrange(len(words))
            words[at:at] = KNOWLEDGE_WORDS[start : start + rng.randint(4, 12)]
    return " ".join(words)


# Open answers by outcome for the reference "right lower lobe": partial or wrong, and padded/hedged.
OPEN_OTHER = ("right lobe", "left upper lobe", "lower lobe of the right lung", "liver", "right lower lobe mass")
OPEN_BAD = ("right or left lower lobe", "right left upper middle lower lobe lung liver kidney spleen")


def answer_for(rng: random.Random, row: str, truth: str, labels: list[str]) -> str | None:
    """50% correct, 30% another valid answer, 10% a hedge or malformed answer, 10% no answer block."""
    u = rng.random()
    if u >= 0.9:
        return None
    if row == "mcq":  # the letter or the text, as models answer
        letter = "ABCD"[labels.index(truth)]
        if u < 0.5:
            return letter if u < 0.25 else truth
        return rng.choice([lbl for lbl in labels if lbl != truth]) if u < 0.8 else f"{letter} or A"
    if row == "closed":
        return rng.choice(["Yes", "yes.", "present"]) if u < 0.5 else "no" if u < 0.8 else "yes and no"
    if row == "open":
        return truth if u < 0.5 else rng.choice(OPEN_OTHER) if u < 0.8 else rng.choice(OPEN_BAD)
    if row == "grounding":
        x, y = (40, 40) if u < 0.5 else (rng.randint(0, 150), rng.randint(0, 150))
        return f"[{x}, {y}, {x + 80}, {y + 80}]" if u < 0.8 else "the box [40, 40, 120, 120]"
    if u < 0.5:
        return truth
    if u < 0.8:
        return rng.choice([lbl for lbl in labels if lbl != truth])
    return f"{truth} or {rng.choice(labels)}"


def make_mix(n: int, seed: int = 0) -> dict[str, list[tuple]]:
    """n responses split evenly over classification, ordinal, recitation, grounding and VQA rows."""
    rng = random.Random(seed)
    kinds = {
        "classification": "multiclass",
        "ordinal": "ordinal",
        "recitation": "multiclass",
        "grounding": "grounding",
        "vqa_mcq": "mcq",
        "vqa_closed": "closed",
        "vqa_open": "open",
    }
    mix: dict[str, list[tuple]] = {}
    for position, (kind, row) in enumerate(kinds.items()):
        data_source, truth, info = ROWS[row]
        if kind == "classification":  # a prompt without injected knowledge: nothing to recite
            info = dict(info, knowledge="")
        calls = []
        for _ in range(n // len(kinds) + (position < n % len(kinds))):  # every kind, n responses in all
            answer = answer_for(rng, row, truth, info["labels"])
            text = f"<think>{think_text(rng, kind == 'recitation')}</think>\n"
            text += f"<answer>{answer}</answer>" if answer is not None else "I cannot tell."
            calls.append((data_source, text, truth, dict(info)))
        mix[kind] = calls
    return mix


def make_geo3k(texts: list[str], seed: int = 0, correct_share: float = 0.5) -> list[tuple]:
    """geo3k responses with the same lengths as ours and the given share of correct answers."""
    rng = random.Random(seed)
    calls = []
    for text in texts:
        n_words = len(text.split())
        think = " ".join(rng.choice(GEO_WORDS) for _ in range(n_words))
        answer = "60" if rng.random() < correct_share else str(rng.choice([30, 45, "2\\sqrt{3}", "\\frac{1}{2}"]))
        calls.append(("hiyouga/geometry3k", f"<think>{think}</think> The answer is \\boxed{{{answer}}}", "60", None))
    return calls


def time_calls(fn, calls: list[tuple], repeats: int) -> float:
    """Minimum over repeats of the total seconds to score every call."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for data_source, text, truth, info in calls:
            fn(data_source=data_source, solution_str=text, ground_truth=truth, extra_info=info)
        best = min(best, time.perf_counter() - start)
    return best


ADVERSARIAL = {
    "tag_flood": "<think><answer></think></answer>" * 3_200,
    "nested_answers": "<think>x</think>" + "<answer>" * 6_000 + "melanoma" + "</answer>" * 6_000,
    "long_think_recited": "<think>" + KNOWLEDGE * 480 + "</think><answer>melanoma</answer>",
    "long_answer_hedge": "<think>x</think><answer>" + "melanoma or " * 8_500 + "</answer>",
    "json_nesting": "<think>x</think><answer>" + "[" * 50_000 + "]" * 50_000 + "</answer>",
    "digit_flood": "<think>x</think><answer>" + "9" * 100_000 + "</answer>",
    "number_list": "<think>x</think><answer>" + "1," * 50_000 + "</answer>",
    "box_list_at_cap": "<think>x</think><answer>" + str([[i, i, i + 9, i + 9] for i in range(100)]) + "</answer>",
    "unicode_noise": "<think>" + "é\u200b\ufeff😀" * 25_000 + "</think><answer>ｍｅｌａｎｏｍａ</answer>",
    "unbalanced_think": "<think>" + "a " * 50_000 + "<answer>melanoma</answer>",
    "polarity_flood": "<think>x</think><answer>" + "yes no not " * 740 + "</answer>",
    "open_words_at_cap": "<think>x</think><answer>" + "right lower lobe " * 480 + "</answer>",
    "option_flood": "<think>x</think><answer>" + "A B C D " * 1_020 + "</answer>",
}


def worst_case(fn, repeats: int) -> dict[str, float]:
    """Per adversarial input, the slowest row type's latency in ms (minimum over repeats)."""
    result = {}
    for name, text in ADVERSARIAL.items():
        worst = 0.0
        for row in ROWS.values():
            worst = max(worst, time_calls(fn, [(row[0], text, row[1], dict(row[2]))], repeats))
        result[name] = round(worst * 1e3, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4096, help="responses in the mix (one GRPO step: 512 x 8)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "rewards.json")
    args = parser.parse_args()

    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils.reward_score import default_compute_score

    config = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {
                    "path": "pkg://reward_fns",
                    "name": "compute_score",
                    "reward_kwargs": REWARD_KWARGS,
                }
            }
        }
    )
    ours = get_custom_reward_fn(config)  # exactly what the reward loop calls

    mix = make_mix(args.n)
    all_calls = [c for calls in mix.values() for c in calls]
    random.Random(1).shuffle(all_calls)
    geo_mixed = make_geo3k([c[1] for c in all_calls], correct_share=0.5)
    geo_correct = make_geo3k([c[1] for c in all_calls], correct_share=1.0)
    time_calls(ours, all_calls[:64], 1)  # warm caches and imports
    time_calls(default_compute_score, geo_mixed[:64], 1)

    per_call_us = {kind: time_calls(ours, calls, args.repeats) / len(calls) * 1e6 for kind, calls in mix.items()}
    mix_s = time_calls(ours, all_calls, args.repeats)
    geo_mixed_s = time_calls(default_compute_score, geo_mixed, args.repeats)
    geo_correct_s = time_calls(default_compute_score, geo_correct, args.repeats)
    geo_us = geo_mixed_s / len(geo_mixed) * 1e6
    geo_correct_us = geo_correct_s / len(geo_correct) * 1e6
    mix_us = mix_s / len(all_calls) * 1e6
    worst = worst_case(ours, args.repeats)

    results = {
        "n_responses": len(all_calls),
        "reward_kwargs": REWARD_KWARGS,
        "per_call_us": {
            **{k: round(v, 2) for k, v in per_call_us.items()},
            "mix": round(mix_us, 2),
            "geo3k_half_correct": round(geo_us, 2),
            "geo3k_all_correct": round(geo_correct_us, 2),
        },
        "ratio_vs_geo3k_half_correct": {k: round(v / geo_us, 3) for k, v in {**per_call_us, "mix": mix_us}.items()},
        "ratio_vs_geo3k_all_correct": {
            k: round(v / geo_correct_us, 3) for k, v in {**per_call_us, "mix": mix_us}.items()
        },
        "mix_total_s": round(mix_s, 4),
        "worst_case_100kb_ms": worst,
        "goals": {
            "classification_and_ordinal_ratio_le_1": max(per_call_us["classification"], per_call_us["ordinal"])
            <= geo_us,
            "vqa_ratio_le_1": max(per_call_us["vqa_mcq"], per_call_us["vqa_closed"], per_call_us["vqa_open"]) <= geo_us,
            "mix_ratio_le_3": mix_us <= 3 * geo_us,
            "n_4096_under_0.5s": mix_s * 4096 / len(all_calls) < 0.5,
            "worst_case_under_5ms": max(worst.values()) < 5.0,
        },
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),  # shared machine: ratios (same run) count, not times
    }
    print(f"{'scorer':<26}{'us/call':>10}{'vs geo3k 50%':>14}{'vs geo3k 100%':>15}")
    for kind in (*per_call_us, "mix"):
        us = results["per_call_us"][kind]
        print(
            f"{kind:<26}{us:>10.1f}{results['ratio_vs_geo3k_half_correct'][kind]:>14.3f}"
            f"{results['ratio_vs_geo3k_all_correct'][kind]:>15.3f}"
        )
    print(f"{'geo3k (50% correct)':<26}{geo_us:>10.1f}")
    print(f"{'geo3k (all correct)':<26}{geo_correct_us:>10.1f}")
    print(f"mix of {len(all_calls)} responses: {mix_s:.3f} s")
    print("worst case on 100 KB inputs (ms): " + ", ".join(f"{k} {v}" for k, v in worst.items()))
    print("goals: " + ", ".join(f"{k}={v}" for k, v in results["goals"].items()))
    write_atomic(args.out, json.dumps(results, indent=2) + "\n")
    write_atomic(args.out.with_suffix(".md"), summary_markdown(results))
    print(f"written {args.out} and {args.out.with_suffix('.md')}")


def summary_markdown(results: dict) -> str:
    """The table printed above, for readers of benchmarks/results/."""
    lines = [
        "# compute_score vs verl's geo3k scorer (benchmarks/bench_rewards.py)",
        "",
        f"{results['n_responses']} responses of 200-600 tokens, "
        f"reward_kwargs `{json.dumps(results['reward_kwargs'])}`, Python {results['python']}; "
        f"minimum over repeats, single core ({results['cpus']} CPUs shared, 1-minute load average "
        f"{results['load_avg_1m']}: compare the ratios, measured in the same run, not the times). "
        "Ratios < 1: faster than geo3k.",
        "",
        "| scorer | us/call | vs geo3k (50% correct) | vs geo3k (all correct) |",
        "|---|---:|---:|---:|",
    ]
    ratios_half, ratios_all = results["ratio_vs_geo3k_half_correct"], results["ratio_vs_geo3k_all_correct"]
    for kind, ratio in ratios_half.items():
        lines.append(f"| {kind} | {results['per_call_us'][kind]:.1f} | {ratio:.3f} | {ratios_all[kind]:.3f} |")
    for kind in ("geo3k_half_correct", "geo3k_all_correct"):
        lines.append(f"| {kind} | {results['per_call_us'][kind]:.1f} | | |")
    worst = ", ".join(f"{k} {v}" for k, v in results["worst_case_100kb_ms"].items())
    lines += [
        "",
        f"Mix total: {results['mix_total_s']} s. Worst case on ~100 KB inputs (ms, slowest row type): {worst}.",
        "",
        "Goals: " + ", ".join(f"{k} = {v}" for k, v in results["goals"].items()),
        "",
    ]
    return "\n".join(lines)


def write_atomic(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader never sees half a result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
