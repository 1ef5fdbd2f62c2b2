"""Learning benchmark: two of the paper's claims in miniature, through verl's real trainer on CPU, over seeds, with
paired statistics.

    python benchmarks/bench_learning.py prepare            # data, tiny model, SFT warm-up, base evaluation
    python benchmarks/bench_learning.py run [--experiment A|B|all] [--seeds 0 1 2]   # missing GRPO runs only
    python benchmarks/bench_learning.py report             # statistics, learning_*.{json,md}, plots
    python benchmarks/bench_learning.py smoke              # one arm, one seed, 2 steps: the pipeline runs

* Task: a synthetic 5-grade ordinal property (the red tint of a noisy image, blue at grade 0 to red at grade 4,
  with grey distractor shapes), imbalanced in training (``TRAIN_PER_GRADE``: common low grades, rare high ones, as
  diabetic-retinopathy grades are) and balanced in the held-out test split. Converted by ``data_preprocess.folder``
  from a task card.
* Base: the tiny random-weight Qwen2.5-VL (``verl_med_plugin.tiny_model``), then an SFT warm-up with verl's SFT
  trainer on a few labelled images (``SFT_PER_GRADE`` per grade): it learns the answer format and part of the
  image -> grade mapping, so it starts below the ceiling on the test split and GRPO has something to learn.
* Arms (``ARMS``), every other setting equal (data, steps, batch, learning rate, seeds, sampler code):
  experiment A (ordinal reward): ``exact`` vs ``mfrs`` accuracy reward, both with uniform weighting;
  experiment B (sampler weighting): ``mfrs`` (uniform) vs ``error`` (1 - acc) vs ``learnability`` (4 p (1 - p)).
  The ``mfrs`` runs are the control of both experiments (the same runs, not re-run).
* Evaluation of the base and of every final checkpoint on the test split by offline generation
  (``verl_med_plugin.evaluation.generate``: stable prompt ids, so arms pair prompt by prompt): greedy and
  ``SAMPLES`` samples at temperature 1, scored by ``verl-med-eval`` (accuracy, QWK, MAE with CIs). Arm vs control:
  per seed with ``verl-med-eval``'s paired bootstrap and McNemar test; across seeds by pooling the (seed, prompt)
  pairs (McNemar on the pooled discordant pairs, a bootstrap over prompts that keeps every seed of a prompt).
* Signal: verl's per-step ``critic/score/mean`` and the sampler's ``med_sampler/zero_adv_group_frac`` (the share
  of GRPO groups whose rewards are all equal, i.e. no gradient).

Every run is resumable: a finished run leaves ``<work>/runs/<arm>@<seed>/done.json`` and its evaluation
``benchmarks/results/learning_runs/<arm>@<seed>.json``; ``run`` skips both. Needs the CPU test bed
(``bash scripts/setup.sh --cpu``). On a GPU host with a real model: see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks"), str(REPO)]

from cpu_e2e import CPU_OVERRIDES, SMALL_RUN, cpu_env, metrics_by_step, run_logged, stop_ray  # noqa: E402
from results_io import machine_info, save  # noqa: E402

DATASET = "synthetic_tint"
GRADES = ("none", "mild", "moderate", "severe", "extreme")
CARD = """\
name: synthetic_tint
modality: synthetic colour image
task_type: ordinal
question: What is the red-tint grade of this image?
description: >-
  Synthetic benchmark images: a noisy background whose colour goes from blue (grade none) to red (grade extreme) in
  five even steps, with grey distractor shapes.
references:
  - verl-med benchmarks/bench_learning.py (synthetic data, no clinical meaning).
labels:
  - name: none
    official: "0"
    findings: The background is blue.
  - name: mild
    official: "1"
    findings: The background is mostly blue with some red.
  - name: moderate
    official: "2"
    findings: The background is purple, half red and half blue.
  - name: severe
    official: "3"
    findings: The background is mostly red with some blue.
  - name: extreme
    official: "4"
    findings: The background is red.
"""
THINK = "Tint."  # the SFT target: <think>Tint.</think><answer>GRADE</answer>
IMAGE_SIDE = 56  # 4 image tokens with the tiny model's processor (28 px patches merged 2x2)
TRAIN_PER_GRADE = (64, 40, 28, 16, 12)  # imbalanced, as clinical grades are
TEST_PER_GRADE = 24
VAL_PER_GRADE = 2  # verl needs a validation file; the runs do not validate (offline evaluation instead)
SFT_PER_GRADE = 3  # the few labelled images of the warm-up

# GRPO budget of every arm (the same for all: the arms differ in one setting only)
STEPS, PROMPTS, GROUP, LR = 16, 8, 4, 2e-4
SAMPLES = 4  # test samples per prompt at temperature 1
SEEDS = (0, 1, 2)

# MFRS's table (configs/med/experiment/mfrs.yaml) is set in every arm; it is inert under exact-match reward
TABLE = ["++med.reward.mfrs_shape=table", "++med.reward.mfrs_table=[1.0,0.25,0.0625,0.0]"]
EXACT, MFRS = [*TABLE, "++med.reward.ordinal_reward=exact"], [*TABLE, "++med.reward.ordinal_reward=mfrs"]
ARMS: dict[str, list[str]] = {
    "exact": [*EXACT, "med.sampler.weighting=uniform"],
    "mfrs": [*MFRS, "med.sampler.weighting=uniform"],
    "error": [*MFRS, "med.sampler.weighting=error"],
    "learnability": [*MFRS, "med.sampler.weighting=learnability"],
}
EXPERIMENTS: dict[str, tuple[str, tuple[str, ...]]] = {  # name: (control arm, arms compared with it)
    "A": ("exact", ("mfrs",)),
    "B": ("mfrs", ("error", "learnability")),
}
RESULTS = REPO / "benchmarks" / "results"
RUN_RESULTS = RESULTS / "learning_runs"


# ----------------------------------------------------------------------------------------------------------- data
def tint_image(grade: int, rng: np.random.Generator) -> Image.Image:
    """Background from blue (grade 0) to red (grade 4) in even steps, per-pixel noise, 1-3 grey distractors."""
    t = grade / (len(GRADES) - 1)
    colour = np.array([30 + 170 * t, 30, 200 - 170 * t])
    pixels = np.clip(rng.normal(colour, 30, size=(IMAGE_SIDE, IMAGE_SIDE, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        x, y = rng.integers(0, IMAGE_SIDE - 16, size=2)
        w, h = rng.integers(6, 16, size=2)
        grey = int(rng.integers(60, 200))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([int(x), int(y), int(x + w), int(y + h)], fill=(grey, grey, grey))
    return image


def _convert(py: str, card: Path, images: Path, out: Path) -> None:
    for cmd in (
        [py, "-m", "data_preprocess.folder", "--card", str(card), "--image_dir", str(images), "--output_dir",
         str(out), "--max_side", str(IMAGE_SIDE), "--num_proc", "1"],
        [py, "-m", "data_preprocess.sft", "--input_dir", str(out), "--think_text", THINK],
    ):  # fmt: skip
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")


def write_data(work: Path, seed: int = 0) -> tuple[Path, Path]:
    """Folder-per-grade images -> RL parquet (train imbalanced, test balanced) and, from other images, the SFT
    warm-up's parquet. Returns (RL data folder, SFT data folder)."""
    rng = np.random.default_rng(seed)
    card = work / "card.yaml"
    card.write_text(CARD)
    sets = {
        "images": {"train": TRAIN_PER_GRADE, "val": (VAL_PER_GRADE,) * 5, "test": (TEST_PER_GRADE,) * 5},
        "sft_images": {"train": (SFT_PER_GRADE,) * 5, "val": (1,) * 5, "test": (1,) * 5},
    }
    for name, splits in sets.items():
        for split, counts in splits.items():
            for grade, (label, n) in enumerate(zip(GRADES, counts, strict=True)):
                folder = work / name / split / label
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(n):
                    tint_image(grade, rng).save(folder / f"{label}_{i:03d}.png")
    data, sft = work / "data" / DATASET, work / "sft_data" / DATASET
    _convert(sys.executable, card, work / "images", data)
    _convert(sys.executable, card, work / "sft_images", sft)
    return data, sft


# ------------------------------------------------------------------------------------------------------ training
def _torchrun() -> str:
    return str(Path(sys.executable).parent / "torchrun")


def run_sft(work: Path, model: Path, data: Path, epochs: int, lr: float) -> Path:
    """verl's SFT trainer (FSDP2 over gloo on the test-bed CPU platform); returns the exported HF model."""
    run = work / "sft"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    cmd = [
        _torchrun(),
        "--standalone",
        "--nproc_per_node=1",
        "-m",
        "verl.trainer.sft_trainer",
        "--config-path=pkg://verl_med_plugin.configs",
        "--config-name=sft_med",
        f"model.path={model}",
        f"data.train_files={data / 'sft_train.parquet'}",
        f"data.val_files={data / 'sft_val.parquet'}",
        "data.train_batch_size=5",
        "data.micro_batch_size_per_gpu=5",
        "data.max_length=256",
        "data.num_workers=0",
        "data.pad_mode=no_padding",
        "data.use_dynamic_bsz=false",
        "model.use_remove_padding=false",  # the CPU recipe of the GRPO actor (docs/cpu.md)
        "model.enable_gradient_checkpointing=false",
        "+model.override_config.attn_implementation=sdpa",
        "engine.strategy=fsdp2",
        "engine.use_torch_compile=false",
        "+engine.mixed_precision.param_dtype=fp32",
        f"optim.lr={lr}",
        "trainer.device=cpu",
        f"trainer.total_epochs={epochs}",
        "trainer.logger=[console,file]",
        f"trainer.default_local_dir={run / 'ckpt'}",
        "trainer.save_freq=-1",
        "trainer.resume_mode=disable",
        "checkpoint.save_contents=[model,hf_model]",
        f"hydra.run.dir={run}",
    ]
    # VERL_ENGINE_DEVICE=cuda: verl registers its FSDP engine for cuda/npu only (docs/cpu.md, gap 3)
    env = cpu_env(
        {"VERL_ENGINE_DEVICE": "cuda", "VERL_FILE_LOGGER_PATH": str(run / "metrics.jsonl"), "OMP_NUM_THREADS": "2"}
    )
    start = time.perf_counter()
    run_logged(cmd, run / "sft.log", env=env, cwd=run, timeout=3600)
    (run / "wall_s.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
    return sft_model(work)


def sft_model(work: Path) -> Path:
    run = work / "sft" / "ckpt"
    step = int((run / "latest_checkpointed_iteration.txt").read_text().strip())
    hf_dir = run / f"global_step_{step}" / "huggingface"
    if not list(hf_dir.glob("*.safetensors")):
        raise RuntimeError(f"{hf_dir}: verl's SFT trainer exported no weights (checkpoint.save_contents hf_model)")
    return hf_dir


def grpo_overrides(run: Path, model: Path, data_dir: Path, arm: str, seed: int, steps: int) -> list[str]:
    """The run's Hydra overrides: ``tests/cpu_e2e.py``'s CPU recipe, this benchmark's budget, the arm's setting."""
    return [
        f"actor_rollout_ref.model.path={model}",
        f"med.data_dir={data_dir}",
        f"med.dataset={DATASET}",
        f"med.seed={seed}",
        # SFT saw the converter's prompt with the model's own chat template: keep GRPO's prompts identical
        "med.knowledge.mode=none",
        "med.template=null",
        "med.sampler.enable=true",
        *CPU_OVERRIDES,
        *SMALL_RUN,
        *ARMS[arm],
        f"data.train_batch_size={PROMPTS}",
        f"actor_rollout_ref.rollout.n={GROUP}",
        "data.max_prompt_length=256",
        "data.max_response_length=24",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={PROMPTS}",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",
        f"actor_rollout_ref.actor.optim.lr={LR}",
        "actor_rollout_ref.actor.use_kl_loss=false",  # no reference model: faster steps, the same for every arm
        f"trainer.total_training_steps={steps}",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        f"trainer.save_freq={steps}",
        "actor_rollout_ref.actor.checkpoint.save_contents=[model,hf_model]",
        f"trainer.default_local_dir={run / 'ckpt'}",
        f"hydra.run.dir={run}",
    ]


def run_grpo(work: Path, arm: str, seed: int, steps: int = STEPS) -> Path:
    """One GRPO run (``python -m verl_med_plugin.main``); returns its final HF checkpoint."""
    run = work / "runs" / f"{arm}@{seed}"
    if (run / "done.json").is_file():
        return Path(json.loads((run / "done.json").read_text())["model"])
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    start = time.perf_counter()
    try:
        run_logged(
            [sys.executable, "-m", "verl_med_plugin.main",
             *grpo_overrides(run, sft_model(work), work / "data", arm, seed, steps)],
            run / "train.log",
            env=cpu_env({"VERL_FILE_LOGGER_PATH": str(run / "metrics.jsonl")}),
            cwd=run,
            timeout=3600,
        )  # fmt: skip
    finally:
        stop_ray()
    model = run / "ckpt" / f"global_step_{steps}" / "actor" / "huggingface"
    if not list(model.glob("*.safetensors")):
        raise RuntimeError(f"{model}: the run exported no weights")
    done = {"model": str(model), "wall_s": round(time.perf_counter() - start, 1)}
    (run / "done.json").write_text(json.dumps(done))
    return model


# ---------------------------------------------------------------------------------------------------- evaluation
def generate_test(model: str, data: str, greedy_out: str, sampled_out: str, seed: str) -> None:
    """Greedy and sampled answers to the test split from one vLLM engine start (vLLM's CPU build starts in ~1.5
    min here, twice a generation). Prompts, requests and output lines are ``verl_med_plugin.evaluation.generate``'s,
    so the JSONLs are the ones its CLI writes; runs in a subprocess (``_generate``) with the CPU test-bed env."""
    from vllm import LLM, SamplingParams

    from verl_med_plugin.evaluation import generate as gen
    from verl_med_plugin.verl_compat import load_tokenizer_and_processor

    tokenizer, processor = load_tokenizer_and_processor(model)
    requests = gen.build_requests([Path(data)], tokenizer, processor, gen.data_config(None))
    llm = LLM(model=model, seed=int(seed), limit_mm_per_prompt={"image": 1})
    prompts: Any = [{"prompt": r.prompt_text, "multi_modal_data": {"image": r.images}} for r in requests]
    for out, n, temperature in ((greedy_out, 1, 0.0), (sampled_out, SAMPLES, 1.0)):
        # the engine's seed only: vLLM's CPU sampler refuses per-request seeds ("CPU Generator does not use offset")
        params = SamplingParams(n=n, temperature=temperature, max_tokens=24)
        responses = [[c.text for c in result.outputs] for result in llm.generate(prompts, params)]
        gen.write_generations(requests, responses, Path(out))


def eval_metrics(generations: dict[str, Path], out: Path, baseline: str | None = None) -> dict[str, Any]:
    """``verl-med-eval`` on generation JSONLs (named runs); returns its metrics.json."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(Path(sys.executable).parent / "verl-med-eval"), *[f"{k}={v}" for k, v in generations.items()]]
    cmd += ["--out", str(out), "--bootstrap", "2000"] + (["--baseline", baseline] if baseline else [])
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
    if proc.returncode:
        raise RuntimeError(f"verl-med-eval failed:\n{proc.stderr[-3000:]}")
    return json.loads((out / "metrics.json").read_text())


def evaluate_model(model: Path, work: Path, name: str, seed: int) -> dict[str, Path]:
    """Greedy and sampled generations of ``model`` on the test split, kept under ``work/gen``."""
    gen = work / "gen"
    gen.mkdir(parents=True, exist_ok=True)
    out = {"greedy": gen / f"{name}.greedy.jsonl", "sampled": gen / f"{name}.sampled.jsonl"}
    if not all(p.is_file() for p in out.values()):
        data = work / "data" / DATASET / "test.parquet"
        cmd = [sys.executable, str(Path(__file__).resolve()), "_generate", str(model), str(data)]
        cmd += [str(out["greedy"]), str(out["sampled"]), str(seed)]
        run_logged(cmd, gen / f"{name}.log", env=cpu_env(), cwd=REPO, timeout=1800)
    return out


def training_curves(run: Path) -> dict[str, list]:
    """verl's per-step metrics of a run: reward, batch accuracy, zero-advantage share, step time."""
    metrics = metrics_by_step(run / "metrics.jsonl")
    steps = sorted(k for k, v in metrics.items() if "timing_s/step" in v)
    keys = {
        "score_mean": "critic/score/mean",
        "batch_acc": "med_sampler/batch_acc",
        "zero_adv_group_frac": "med_sampler/zero_adv_group_frac",
        "step_s": "timing_s/step",
    }
    return {"step": steps, **{name: [metrics[s].get(key) for s in steps] for name, key in keys.items()}}


def run_summary(work: Path, arm: str, seed: int) -> dict[str, Any]:
    """Train (if needed), evaluate and summarise one arm and seed; committed to ``learning_runs/``."""
    path = RUN_RESULTS / f"{arm}@{seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    model = run_grpo(work, arm, seed)
    run = work / "runs" / f"{arm}@{seed}"
    start = time.perf_counter()
    generations = evaluate_model(model, work, f"{arm}@{seed}", seed)
    eval_s = round(time.perf_counter() - start, 1)
    summary = {
        "arm": arm,
        "seed": seed,
        "overrides": ARMS[arm],
        "wall_s": json.loads((run / "done.json").read_text())["wall_s"],
        "eval_wall_s": eval_s,  # one vLLM start, greedy and sampled test answers
        "curves": training_curves(run),
        "test": {mode: _headline(eval_metrics({"run": p}, work / "eval" / f"{arm}@{seed}.{mode}")) for mode, p in
                 generations.items()},
    }  # fmt: skip
    keep_generations(generations, f"{arm}@{seed}")
    RUN_RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    tmp.replace(path)
    return summary


def keep_generations(generations: dict[str, Path], name: str) -> None:
    """Committed copies of the test generations, so the statistics can be recomputed without re-running."""
    folder = RUN_RESULTS / "generations"
    folder.mkdir(parents=True, exist_ok=True)
    for mode, path in generations.items():
        shutil.copyfile(path, folder / f"{name}.{mode}.jsonl")


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    """Accuracy, QWK and MAE (point and 95 % CI) of a one-run, one-dataset ``verl-med-eval`` report."""
    (run,) = report["runs"]
    (ds,) = run["datasets"].values()
    keys = ("n_prompts", "accuracy", "qwk", "mae", "qwk_invalid_farthest", "mae_invalid_farthest", "format_compliance")
    return {**{k: ds.get(k) for k in keys}, "accuracy_ci": (ds.get("ci") or {}).get("accuracy")}


# ------------------------------------------------------------------------------------------------------ statistics
def outcomes(generations: Path, work: Path, name: str) -> Any:
    """The per-prompt outcomes ``verl-med-eval`` computes for one generation JSONL."""
    from verl_med_plugin.evaluation.statistics import Outcomes

    report = eval_metrics({"run": generations}, work / "eval" / f"outcomes.{name}")
    ((ds,),) = [list(r["datasets"].values()) for r in report["runs"]]
    return Outcomes.from_dict(ds["outcomes"])


def absolute_errors(o: Any) -> list[np.ndarray]:
    """Per prompt, its samples' grade distance to the truth; an unanswered sample counts as the farthest grade
    (``verl-med-eval``'s ``mae_invalid_farthest``)."""
    top = o.n_classes - 1
    return [
        np.array([max(t, top - t) if p < 0 else abs(p - t) for p in preds], dtype=float)
        for t, preds in zip(o.truth, o.predicted, strict=True)
    ]


def pooled_comparison(arm: Sequence[Any], control: Sequence[Any], seed: int = 0) -> dict[str, Any]:
    """Arm minus control across seeds (``Outcomes`` of the same test prompts, one pair per seed).

    Accuracy and MAE differences: per prompt, the mean over seeds of (arm - control) of its samples' mean; 95 % CIs
    by a bootstrap over prompts (``statistics.bootstrap_ci``), so a prompt's seeds stay together. McNemar's exact
    test on the pooled (seed, prompt) pairs of per-prompt correctness (greedy: the answer; sampled: the majority
    vote); pooling treats a prompt's seeds as independent pairs, so its p-value is the less conservative of the two.
    """
    from verl_med_plugin.evaluation.statistics import bootstrap_ci, mcnemar_exact

    prompts = sorted(set.intersection(*(set(o.prompt_ids) for o in (*arm, *control))))

    def per_prompt(o: Any, values: Sequence[Any]) -> np.ndarray:
        position = {p: i for i, p in enumerate(o.prompt_ids)}
        return np.array([np.mean(values[position[p]]) for p in prompts])

    def mean_difference(values: Any) -> np.ndarray:
        pairs = zip(arm, control, strict=True)
        return np.mean([per_prompt(a, values(a)) - per_prompt(c, values(c)) for a, c in pairs], axis=0)

    accuracy = mean_difference(lambda o: o.correct)
    mae = mean_difference(absolute_errors)
    a_correct = np.concatenate([per_prompt(a, a.prompt_correct()) for a in arm]).astype(bool)
    c_correct = np.concatenate([per_prompt(c, c.prompt_correct()) for c in control]).astype(bool)
    return {
        "n_prompts": len(prompts),
        "n_seeds": len(arm),
        "accuracy_difference": float(accuracy.mean()),
        "ci": bootstrap_ci(len(prompts), lambda idx: float(accuracy[idx].mean()), seed=seed),
        "mae_difference": float(mae.mean()),
        "mae_ci": bootstrap_ci(len(prompts), lambda idx: float(mae[idx].mean()), seed=seed),
        "mcnemar": mcnemar_exact(a_correct, c_correct),
    }


def zero_advantage_test(arm: Sequence[dict[str, Any]], control: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Zero-advantage group share, arm minus control, paired by (seed, step): mean difference and Wilcoxon's
    signed-rank test (scipy) over the pairs."""
    from scipy import stats

    diffs = [
        a - c
        for ra, rc in zip(arm, control, strict=True)
        for a, c in zip(ra["curves"]["zero_adv_group_frac"], rc["curves"]["zero_adv_group_frac"], strict=True)
        if a is not None and c is not None
    ]
    nonzero = [d for d in diffs if d != 0]
    p_value = float(stats.wilcoxon(nonzero).pvalue) if len(nonzero) >= 2 else None
    return {"n_pairs": len(diffs), "mean_difference": float(np.mean(diffs)) if diffs else None, "p_value": p_value}


def answer_counts(o: Any) -> dict[str, int]:
    """How often each grade (or no answer) was given over all samples, in grade order."""
    counts = np.bincount([p + 1 for preds in o.predicted for p in preds], minlength=len(GRADES) + 1)
    return {"no answer" if i == 0 else GRADES[i - 1]: int(c) for i, c in enumerate(counts) if c}


def seed_level_test(arm: Sequence[float], control: Sequence[float]) -> dict[str, Any]:
    """Paired t-test over seeds of the arms' test accuracies (scipy): with 3 seeds, only large effects show."""
    from scipy import stats

    diffs = np.subtract(arm, control)
    if len(diffs) < 2 or np.allclose(diffs, diffs[0]):
        return {"n_seeds": len(diffs), "mean_difference": float(np.mean(diffs)), "p_value": None}
    result = stats.ttest_rel(arm, control)
    return {"n_seeds": len(diffs), "mean_difference": float(np.mean(diffs)), "p_value": float(result.pvalue)}


def per_seed_comparisons(arm: str, control: str, seeds: Sequence[int], work: Path) -> list[dict[str, Any]]:
    """``verl-med-eval``'s own paired bootstrap and McNemar test (Holm over the family), arm@s vs control@s."""
    gen = RUN_RESULTS / "generations"
    out = []
    for mode in ("greedy", "sampled"):
        runs = {}
        for s in seeds:
            runs[f"{control}@{s}"] = gen / f"{control}@{s}.{mode}.jsonl"
            runs[f"{arm}@{s}"] = gen / f"{arm}@{s}.{mode}.jsonl"
        for s in seeds:
            report = eval_metrics(
                {f"{control}@{s}": runs[f"{control}@{s}"], f"{arm}@{s}": runs[f"{arm}@{s}"]},
                work / "eval" / f"cmp.{arm}-{control}@{s}.{mode}",
                baseline=f"{control}@{s}",
            )
            for c in report.get("comparisons", []):
                acc = c["differences"]["accuracy"]
                out.append(
                    {
                        "mode": mode,
                        "seed": s,
                        "accuracy_difference": acc["difference"],
                        "ci": acc["ci"],
                        "mcnemar_p": c["mcnemar"]["p_value"],
                        "a_only": c["mcnemar"]["a_only"],
                        "b_only": c["mcnemar"]["b_only"],
                    }
                )
    return out


def _mean_ci(values: Sequence[float]) -> dict[str, Any]:
    """Mean over seeds with a t-based 95 % CI (scipy); None with fewer than 2 seeds."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return {"mean": float(v.mean()) if len(v) else None, "ci": None, "n": len(v)}
    low, high = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v)) if v.std() > 0 else (v[0],) * 2
    return {"mean": float(v.mean()), "ci": [float(low), float(high)], "n": len(v)}


def report(work: Path) -> dict[str, Any]:
    """Every finished run's summary, the experiments' paired statistics, plots; writes learning.{json,md}."""
    summaries = {p.stem: json.loads(p.read_text()) for p in sorted(RUN_RESULTS.glob("*@*.json"))}
    base_gen = RUN_RESULTS / "generations"
    base = {mode: outcomes(base_gen / f"base.{mode}.jsonl", work, f"base.{mode}") for mode in ("greedy", "sampled")}
    base_summary = json.loads((RUN_RESULTS / "base.json").read_text())
    gen_outcomes = {  # (run, mode) -> Outcomes of its test generations
        (run, mode): outcomes(base_gen / f"{run}.{mode}.jsonl", work, f"{run}.{mode}")
        for run in summaries
        for mode in ("greedy", "sampled")
    }
    gen_outcomes.update({("base", mode): base[mode] for mode in base})
    experiments: dict[str, Any] = {}
    for name, (control, arms) in EXPERIMENTS.items():
        for arm in arms:
            seeds = sorted(
                int(k.split("@")[1])
                for k in summaries
                if k.startswith(f"{arm}@") and f"{control}@{k.split('@')[1]}" in summaries
            )
            if not seeds:
                continue
            entry: dict[str, Any] = {"control": control, "arm": arm, "seeds": seeds}
            for mode in ("greedy", "sampled"):
                entry[mode] = {
                    "pooled": pooled_comparison(
                        [gen_outcomes[f"{arm}@{s}", mode] for s in seeds],
                        [gen_outcomes[f"{control}@{s}", mode] for s in seeds],
                    ),
                    "seed_level": seed_level_test(
                        [summaries[f"{arm}@{s}"]["test"][mode]["accuracy"] for s in seeds],
                        [summaries[f"{control}@{s}"]["test"][mode]["accuracy"] for s in seeds],
                    ),
                }
            entry["zero_advantage"] = zero_advantage_test(
                [summaries[f"{arm}@{s}"] for s in seeds], [summaries[f"{control}@{s}"] for s in seeds]
            )
            entry["per_seed"] = per_seed_comparisons(arm, control, seeds, work)
            experiments[f"{name}: {arm} vs {control}"] = entry
    greedy_answers = {  # what each model answers greedily: a constant answer is an image-blind policy
        run: answer_counts(gen_outcomes[run, "greedy"])
        for run in ("base", *summaries)
        if (run, "greedy") in gen_outcomes
    }
    versus_base = {}  # every arm's runs against the SFT base they all start from
    for arm in ARMS:
        seeds = sorted(int(k.split("@")[1]) for k in summaries if k.startswith(f"{arm}@"))
        if seeds:
            versus_base[arm] = {
                mode: pooled_comparison([gen_outcomes[f"{arm}@{s}", mode] for s in seeds], [base[mode]] * len(seeds))
                for mode in ("greedy", "sampled")
            }
    arms_table = {}
    for arm in ARMS:
        runs = [summaries[k] for k in summaries if k.startswith(f"{arm}@")]
        if not runs:
            continue
        arms_table[arm] = {
            "seeds": [r["seed"] for r in runs],
            "wall_s": [r["wall_s"] for r in runs],
            **{
                f"{mode}_{metric}": _mean_ci(
                    [r["test"][mode][metric] for r in runs if r["test"][mode].get(metric) is not None]
                )
                for mode in ("greedy", "sampled")
                for metric in ("accuracy", "qwk_invalid_farthest", "mae_invalid_farthest")
            },
            "zero_adv_share": _mean_ci(
                [float(np.mean([z for z in r["curves"]["zero_adv_group_frac"] if z is not None])) for r in runs]
            ),
        }
    result = {
        "design": {
            "task": f"{len(GRADES)}-grade red tint, {IMAGE_SIDE}-px images",
            "train_per_grade": TRAIN_PER_GRADE,
            "test_per_grade": TEST_PER_GRADE,
            "sft_per_grade": SFT_PER_GRADE,
            "steps": STEPS,
            "prompts_per_step": PROMPTS,
            "group_size": GROUP,
            "lr": LR,
            "test_samples": SAMPLES,
            "arms": ARMS,
            "experiments": {k: {"control": v[0], "arms": v[1]} for k, v in EXPERIMENTS.items()},
        },
        "machine": machine_info(),
        "base": base_summary,
        "arms": arms_table,
        "experiments": experiments,
        "versus_base": versus_base,
        "greedy_answers": greedy_answers,
        "runs": summaries,
    }
    plot(summaries, RESULTS / "learning_curves.png")
    save(RESULTS / "learning.json", result, markdown(result))
    return result


def plot(summaries: dict[str, Any], path: Path) -> None:
    """Training accuracy, reward and zero-advantage share per step, mean over seeds per arm (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    panels = ("batch_acc", "score_mean", "zero_adv_group_frac")
    for arm in ARMS:
        runs = [s for k, s in summaries.items() if k.startswith(f"{arm}@")]
        if not runs:
            continue
        for ax, key in zip(axes, panels, strict=True):
            curves = np.array([[np.nan if v is None else v for v in r["curves"][key]] for r in runs], dtype=float)
            ax.plot(runs[0]["curves"]["step"], np.nanmean(curves, axis=0), label=f"{arm} (n={len(runs)})")
    axes[0].set(title="training accuracy (med_sampler/batch_acc)", xlabel="GRPO step")
    axes[1].set(title="training reward (critic/score/mean; MFRS pays near misses)", xlabel="GRPO step")
    axes[2].set(title="zero-advantage GRPO groups (share)", xlabel="GRPO step")
    axes[0].legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}")
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    tmp.replace(path)


def _fmt(entry: dict[str, Any] | None, digits: int = 3) -> str:
    if not entry or entry.get("mean") is None:
        return "-"
    ci = entry.get("ci")
    return f"{entry['mean']:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def _ci(ci: dict[str, Any] | None, sign: str = "+") -> str:
    return f"[{ci['low']:{sign}.3f}, {ci['high']:{sign}.3f}]" if ci else "-"


def verdict(pooled: dict[str, Any]) -> str:
    """Accuracy: a difference only if its CI excludes 0 and McNemar's p < 0.05; MAE: if its CI excludes 0."""

    def excludes_zero(ci: dict[str, Any] | None) -> bool:
        return ci is not None and (ci["low"] > 0 or ci["high"] < 0)

    accuracy = (
        ("higher" if pooled["accuracy_difference"] > 0 else "lower")
        if excludes_zero(pooled["ci"]) and pooled["mcnemar"]["p_value"] < 0.05
        else "no difference detected"
    )
    mae = (
        ("higher" if pooled["mae_difference"] > 0 else "lower")
        if excludes_zero(pooled["mae_ci"])
        else "no difference detected"
    )
    return f"{accuracy}; {mae}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def markdown(result: dict[str, Any]) -> str:
    """The summary of ``learning.json`` (every number copied from it; the conclusions follow the p-values)."""
    d, b = result["design"], result["base"]
    lines = [
        "# Learning benchmark: MFRS vs exact reward, and sampler weightings, in miniature",
        "",
        f"`python benchmarks/bench_learning.py run && ... report` on {result['machine']['cpus']} CPUs. Tiny "
        f"random-weight Qwen2.5-VL (~20 M parameters), synthetic {d['task']}: training grades "
        f"{list(d['train_per_grade'])} images (imbalanced), test {d['test_per_grade']} per grade. Base: SFT "
        f"warm-up with verl's SFT trainer on {d['sft_per_grade']} labelled images per grade. Every arm: "
        f"{d['steps']} GRPO steps of {d['prompts_per_step']} prompts x {d['group_size']} samples, lr {d['lr']}, "
        "no KL, verl-med's curriculum sampler; arms differ in one setting (below). A tiny random-initialised "
        "model on synthetic images: this tests the mechanisms, not a medical result.",
        "",
        "## Base (after SFT, before GRPO), test split",
        "",
        f"greedy accuracy {b['greedy']['accuracy']:.3f} {_ci(b['greedy']['accuracy_ci'], '')}, QWK "
        f"{b['greedy']['qwk_invalid_farthest']:.3f}, MAE {b['greedy']['mae_invalid_farthest']:.3f}, format "
        f"{b['greedy']['format_compliance']:.3f}; "
        f"sampled (T=1, {d['test_samples']} per image) accuracy {b['sampled']['accuracy']:.3f} "
        f"{_ci(b['sampled']['accuracy_ci'], '')}. QWK and MAE count an unanswered image as the farthest grade.",
        "",
        "## Arms after GRPO (mean over seeds, t-based 95 % CI across seeds)",
        "",
        "| arm | setting | seeds | greedy acc | sampled acc | greedy QWK | greedy MAE | zero-adv share | GRPO s/run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm, a in result["arms"].items():
        setting = " ".join(o.split("=", 1)[1] for o in d["arms"][arm] if "ordinal_reward" in o or "weighting" in o)
        lines.append(
            f"| {arm} | `{setting}` "
            f"| {len(a['seeds'])} | {_fmt(a['greedy_accuracy'])} | {_fmt(a['sampled_accuracy'])} | "
            f"{_fmt(a['greedy_qwk_invalid_farthest'])} | {_fmt(a['greedy_mae_invalid_farthest'])} | "
            f"{_fmt(a['zero_adv_share'])} | "
            f"{np.mean(a['wall_s']):.0f} |"
        )
    lines += ["", "## Paired comparisons (test prompts; arm minus control, pooled over seeds)", ""]
    lines += [
        "| comparison | decoding | accuracy difference [95 % CI] | McNemar p | seed-level t-test p | MAE difference "
        "[95 % CI] | verdict (accuracy; MAE) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in result["experiments"].items():
        for mode in ("greedy", "sampled"):
            pooled, seed_level = e[mode]["pooled"], e[mode]["seed_level"]
            lines.append(
                f"| {name} ({len(e['seeds'])} seeds) | {mode} | {pooled['accuracy_difference']:+.3f} "
                f"{_ci(pooled['ci'])} | {_p(pooled['mcnemar']['p_value'])} | {_p(seed_level['p_value'])} | "
                f"{pooled['mae_difference']:+.3f} {_ci(pooled['mae_ci'])} | {verdict(pooled)} |"
            )
    lines += [
        "",
        "Zero-advantage share (GRPO groups whose rewards are all equal), arm minus control, paired by (seed, step), "
        "Wilcoxon signed-rank test:",
        "",
    ]
    for name, e in result["experiments"].items():
        z = e["zero_advantage"]
        lines.append(f"- {name}: {z['mean_difference']:+.3f} over {z['n_pairs']} steps, p = {_p(z['p_value'])}")
    lines += ["", "## GRPO vs its base (every arm's runs against the SFT base, pooled over seeds)", ""]
    lines += [
        "| arm | decoding | accuracy difference [95 % CI] | McNemar p | MAE difference [95 % CI] |",
        "| --- | --- | --- | --- | --- |",
    ]
    for arm, modes in result["versus_base"].items():
        for mode, v in modes.items():
            lines.append(
                f"| {arm} | {mode} | {v['accuracy_difference']:+.3f} {_ci(v['ci'])} | {_p(v['mcnemar']['p_value'])} "
                f"| {v['mae_difference']:+.3f} {_ci(v['mae_ci'])} |"
            )
    lines += ["", "## Greedy test answers (count per grade; a single grade = an image-blind policy)", ""]
    lines += [
        f"- {run}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
        for run, counts in result["greedy_answers"].items()
    ]
    lines += [
        "",
        "Per-seed comparisons by `verl-med-eval` (paired bootstrap, McNemar) are in `learning.json` "
        "(`experiments.*.per_seed`); the runs' test generations in `learning_runs/generations/`, their training "
        "curves in `learning_runs/*.json`; curves: `learning_curves.png`.",
        "",
    ]
    return "\n".join(lines)


def smoke(work: Path) -> None:
    """One arm, one seed, 2 GRPO steps on the prepared base, then its test evaluation: the pipeline runs (its
    figures are not a result and are not written to benchmarks/results)."""
    model = run_grpo(work / "smoke", "mfrs", 0, steps=2) if (work / "smoke").is_dir() else None
    if model is None:
        (work / "smoke").mkdir(parents=True)
        for name in ("data", "sft"):
            (work / "smoke" / name).symlink_to(work / name)
        model = run_grpo(work / "smoke", "mfrs", 0, steps=2)
    generations = evaluate_model(model, work / "smoke", "mfrs@0", 0)
    print(
        json.dumps(
            {
                mode: _headline(eval_metrics({"run": p}, work / "smoke" / "eval" / mode))
                for mode, p in generations.items()
            }
        )
    )


# ----------------------------------------------------------------------------------------------------- commands
def prepare(work: Path, sft_epochs: int, sft_lr: float) -> dict[str, Any]:
    """Data, the tiny model, the SFT warm-up and the base's test evaluation (each step skipped when done)."""
    from verl_med_plugin.tiny_model import build_tiny_qwen_vl_dir

    work.mkdir(parents=True, exist_ok=True)
    if not (work / "data" / DATASET / "test.parquet").is_file():
        write_data(work)
    if not (work / "sft" / "wall_s.txt").is_file():
        model = build_tiny_qwen_vl_dir(work / "model_init", weights=True)
        print(f"SFT warm-up ({sft_epochs} epochs) ...", flush=True)
        run_sft(work, model, work / "sft_data" / DATASET, sft_epochs, sft_lr)
    generations = evaluate_model(sft_model(work), work, "base", 0)
    keep_generations(generations, "base")
    sft_metrics = metrics_by_step(work / "sft" / "metrics.jsonl")
    losses = [m["train/loss"] for _, m in sorted(sft_metrics.items()) if "train/loss" in m]
    summary = {
        "sft": {"epochs": sft_epochs, "lr": sft_lr, "steps": len(losses), "loss": losses,
                "wall_s": float((work / "sft" / "wall_s.txt").read_text())},
        **{m: _headline(eval_metrics({"run": p}, work / "eval" / f"base.{m}")) for m, p in generations.items()},
    }  # fmt: skip
    RUN_RESULTS.mkdir(parents=True, exist_ok=True)
    (RUN_RESULTS / "base.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["_generate"]:  # internal: the evaluation subprocess
        generate_test(*argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("prepare", "run", "report", "smoke"))
    parser.add_argument("--experiment", choices=(*EXPERIMENTS, "all"), default="all")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), help="only these arms (e.g. one per process)")
    parser.add_argument("--sft_epochs", type=int, default=16)
    parser.add_argument("--sft_lr", type=float, default=3e-3)
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("VERL_MED_BENCH_WORK", "/tmp/bench_learning")))
    args = parser.parse_args(argv)
    if args.command == "prepare":
        print(json.dumps(prepare(args.work, args.sft_epochs, args.sft_lr), indent=1))
    elif args.command == "run":
        names = EXPERIMENTS if args.experiment == "all" else (args.experiment,)
        arms = list(dict.fromkeys(a for e in names for a in (EXPERIMENTS[e][0], *EXPERIMENTS[e][1])))
        arms = [a for a in arms if not args.arms or a in args.arms]
        for seed in args.seeds:  # seed-major: every arm gets its seed before any arm gets the next one
            for arm in arms:
                print(f"{arm}@{seed} ...", flush=True)
                summary = run_summary(args.work, arm, seed)
                print(json.dumps(summary["test"]), flush=True)
    elif args.command == "report":
        report(args.work)
    else:
        smoke(args.work)


if __name__ == "__main__":
    main()
