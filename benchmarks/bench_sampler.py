"""Per-step cost of the curriculum sampler at scale: 1,000,000 samples, a 4,096-response batch.

    python benchmarks/bench_sampler.py [--samples 1000000] [--prompts 512] [--rollouts 8] [--steps 40]

One training step costs the sampler one ``update`` (4,096 trajectories fed back) and one ``draw`` (the next
512 prompts). The baseline, timed in the same run on the same state, is the straightforward dense numpy version
of the same weights: recompute all 1M weights, cumsum, draw. Times are medians over ``--steps`` steps (p90 and max
reported too); ratios compare figures of this run. Single process; the machine is shared, so absolute figures
vary with its load, which is recorded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from results_io import machine_info, save

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verl_med_plugin.med_settings import SamplerSettings
from verl_med_plugin.sampler import MedCurriculumSampler

GOAL_UPDATE_MS = 5.0


def build(samples: int, prompts: int) -> MedCurriculumSampler:
    """Eight classification datasets of 4-14 classes plus two localization sets, mixed by a stage ramp."""
    rng = np.random.default_rng(0)
    sizes = [5, 2, 7, 4, 9, 8, 11, 14]
    keys = [f"set{d}:class{c}" for d, n in enumerate(sizes) for c in range(n)] + ["loc0:grounding", "loc1:grounding"]
    is_grounding = np.array([key.endswith(":grounding") for key in keys])
    class_ids = rng.integers(0, len(keys), samples)
    settings = SamplerSettings.from_config(
        {"schedule": [{"grounding_share": [0.8, 0.2], "until_step": 1000}, {"task": "all"}]}
    )
    return MedCurriculumSampler(class_ids, keys, is_grounding, settings, batch_size=prompts)


def dense_step(sampler: MedCurriculumSampler, acc: np.ndarray, prompts: int, rng: np.random.Generator) -> np.ndarray:
    """The baseline: the same weights recomputed densely every step, then an inverse-CDF draw."""
    s = sampler.settings
    weight = (1 - s.class_weight) * np.maximum(s.floor, 1 - acc) + s.class_weight * np.maximum(
        s.floor, 1 - sampler._class_acc[sampler._class_of]
    )
    cdf = np.cumsum(weight)
    return np.searchsorted(cdf, rng.random(prompts) * cdf[-1], side="right")


def percentiles(times: list[float]) -> dict[str, float]:
    ms = np.array(times) * 1e3
    return {
        "median_ms": round(float(np.median(ms)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sampler.json")
    args = parser.parse_args()

    start = time.perf_counter()
    sampler = build(args.samples, args.prompts)
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(1)
    update_t, draw_t, dense_t = [], [], []
    batch = sampler.draw(args.prompts)
    for step in range(args.steps + 3):  # 3 warm-up steps
        rows = np.repeat(batch, args.rollouts)  # 4,096 trajectories: each prompt's responses
        groups = np.repeat(np.arange(args.prompts), args.rollouts)
        accuracy = (rng.random(rows.size) < 0.4).astype(float)
        t0 = time.perf_counter()
        sampler.update(rows, accuracy, groups, accuracy + 0.1)
        t1 = time.perf_counter()
        batch = sampler.draw(args.prompts)
        t2 = time.perf_counter()
        dense_step(sampler, sampler._acc, args.prompts, rng)
        t3 = time.perf_counter()
        if step >= 3:
            update_t.append(t1 - t0)
            draw_t.append(t2 - t1)
            dense_t.append(t3 - t2)

    update, draw, dense = percentiles(update_t), percentiles(draw_t), percentiles(dense_t)
    step_ms = update["median_ms"] + draw["median_ms"]
    result = {
        "samples": args.samples,
        "responses_per_step": args.prompts * args.rollouts,
        "prompts_per_step": args.prompts,
        "classes": len(sampler.class_keys),
        "steps": args.steps,
        "construction_s": round(build_s, 3),
        "update": update,
        "draw": draw,
        "dense_baseline_step": dense,
        "sampler_step_ms": round(step_ms, 3),
        "ratio_update_to_goal": round(update["median_ms"] / GOAL_UPDATE_MS, 3),
        "ratio_sampler_step_to_dense_baseline": round(step_ms / dense["median_ms"], 3),
        "state_dict_mb": round(
            sum(v.nbytes for v in sampler.state_dict().values() if isinstance(v, np.ndarray)) / 2**20, 1
        ),
        "machine": machine_info(numpy=np.__version__),
    }
    save(
        args.out,
        result,
        "# Curriculum sampler benchmark\n\n"
        f"{args.samples:,} samples, {len(sampler.class_keys)} classes, {args.prompts} prompts x {args.rollouts} "
        f"rollouts = {args.prompts * args.rollouts:,} responses per step, `python benchmarks/bench_sampler.py`; "
        f"medians over {args.steps} steps (load average {result['machine']['load_avg_1m']} on "
        f"{result['machine']['cpus']} CPUs).\n\n"
        "| per step | median ms | p90 ms | max ms |\n| --- | --- | --- | --- |\n"
        + "".join(
            f"| {name} | {r['median_ms']} | {r['p90_ms']} | {r['max_ms']} |\n"
            for name, r in (
                ("sampler update (4,096 responses)", update),
                ("sampler draw (next 512 prompts)", draw),
                ("dense numpy baseline (recompute 1M weights + draw)", dense),
            )
        )
        + f"\nUpdate {result['ratio_update_to_goal']}x the 5 ms goal; update + draw "
        f"{result['ratio_sampler_step_to_dense_baseline']}x the dense baseline. Construction "
        f"{result['construction_s']} s; checkpointed state {result['state_dict_mb']} MB.\n",
    )


if __name__ == "__main__":
    main()
