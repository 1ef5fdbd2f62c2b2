"""Learning benchmark: does GRPO through the full verl stack, with verl-med's dataset, rewards and sampler, improve a
tiny model on a task it can learn on CPU, and what share of each step's time is verl-med's own?

    python benchmarks/bench_learning.py [--minutes 20] [--out benchmarks/results]

1. Data: synthetic images whose class is a strong visual property (mostly red vs mostly blue, with random shapes
   and noise so no two images are alike), converted by ``data_preprocess.folder`` (a task card, folder per class)
   and turned into SFT rows by ``data_preprocess.sft``.
2. Model: the tiny random-weight Qwen2.5-VL of ``tests/fixtures_model.py`` (~20 M parameters, real tokenizer and
   processor). It knows nothing, not even the answer format.
3. SFT warm-up with verl's own SFT trainer (``torchrun -m verl.trainer.sft_trainer``, config
   ``configs/sft_med.yaml``) on the CPU test-bed platform; its last checkpoint is exported as a Hugging Face model.
4. GRPO with ``python -m verl_med_plugin.main`` (CPU overrides of ``tests/cpu_e2e.py``), validation before training
   and every ``trainer.test_freq`` steps (``--validations`` of them), for as many steps as fit in ``--minutes``.
5. ``verl-med-eval`` reads the validation dumps (accuracy / reward curves, PNG); the per-phase step times come from
   verl's ``timing_s/*`` metrics (file logger).

Writes ``<out>/learning.json``, ``<out>/learning.md`` and ``<out>/learning_eval/`` (verl-med-eval's report). The
scratch folder (``--work``, default ``/tmp/bench_learning``) keeps every log. Needs the CPU test bed
(``bash scripts/setup.sh --cpu``). Nothing is hard-coded: every figure is read from what the runs wrote.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks")]

from cpu_e2e import CPU_OVERRIDES, SMALL_RUN, cpu_env, metrics_by_step, run_logged, stop_ray  # noqa: E402
from results_io import machine_info, save  # noqa: E402

DATASET = "synthetic_color"
CLASSES = ("red", "blue")
CARD = """\
name: synthetic_color
modality: synthetic colour image
task_type: binary
question: Is this image mostly red or mostly blue?
description: >-
  Synthetic benchmark images: random shapes on a noisy background; the class is the dominant colour.
references:
  - verl-med benchmarks/bench_learning.py (synthetic data, no clinical meaning).
labels:
  - name: red
    findings: Most of the image area is red.
  - name: blue
    findings: Most of the image area is blue.
"""
THINK = "Colour."  # short fixed reasoning: the SFT target is <think>Colour.</think><answer>red|blue</answer>
IMAGE_SIDE = 56  # 4 image tokens with the tiny model's processor (28 px patches merged 2x2)
N_TRAIN_PER_CLASS, N_VAL_PER_CLASS = 32, 16
# Phases of a GRPO step in verl's timing metrics; verl-med's own are the dataset (inside verl's data loading),
# the reward (verl's reward phase runs verl-med's reward function) and the sampler update.
PHASES = (
    "gen",
    "old_log_prob",
    "ref",
    "adv",
    "update_actor",
    "reward",
    "med_sampler",
    "update_weights",
    "testing",
    "step",
)
PLUGIN_PHASES = ("reward", "med_sampler")


def synthetic_image(label: str, rng: np.random.Generator) -> Image.Image:
    """Noisy background plus random shapes; about 70 % of the area in the class colour, the rest the other one."""
    main, other = ((200, 30, 30), (30, 30, 200)) if label == "red" else ((30, 30, 200), (200, 30, 30))
    pixels = np.clip(rng.normal(main, 25, size=(IMAGE_SIDE, IMAGE_SIDE, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):  # minority-colour shapes, together well under half the area
        x, y = rng.integers(0, IMAGE_SIDE - 16, size=2)
        w, h = rng.integers(8, 18, size=2)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([int(x), int(y), int(x + w), int(y + h)], fill=other)
    return image


def write_data(work: Path, seed: int = 0) -> Path:
    """Folder-per-class images with fixed train/val splits -> RL parquet (folder converter) -> SFT parquet."""
    rng = np.random.default_rng(seed)
    images = work / "images"
    for split, n in (("train", N_TRAIN_PER_CLASS), ("val", N_VAL_PER_CLASS), ("test", N_VAL_PER_CLASS)):
        for label in CLASSES:
            folder = images / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                synthetic_image(label, rng).save(folder / f"{label}_{i:03d}.png")
    card = work / "card.yaml"
    card.write_text(CARD)
    data = work / "data" / DATASET
    py = sys.executable
    subprocess.run(
        [
            py,
            "-m",
            "data_preprocess.folder",
            "--card",
            str(card),
            "--image_dir",
            str(images),
            "--output_dir",
            str(data),
            "--max_side",
            str(IMAGE_SIDE),
        ],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    subprocess.run(
        [py, "-m", "data_preprocess.sft", "--input_dir", str(data), "--think_text", THINK],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    return data


def build_model(work: Path) -> Path:
    from fixtures_model import build_tiny_qwen_vl_dir

    return build_tiny_qwen_vl_dir(work / "model_init", weights=True)


def _torchrun() -> str:
    return str(Path(sys.executable).parent / "torchrun")


def run_sft(work: Path, model: Path, data: Path, epochs: int, lr: float) -> tuple[Path, dict[int, dict], float]:
    """verl's SFT trainer (engine path, FSDP2 over gloo on the test-bed CPU platform); returns the exported HF
    model of the last step, verl's per-step metrics and the wall time."""
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
        "data.train_batch_size=8",
        "data.micro_batch_size_per_gpu=8",
        "data.max_length=256",
        "data.num_workers=0",
        "data.pad_mode=no_padding",
        "data.use_dynamic_bsz=false",
        # the CPU recipe of the GRPO actor (docs/cpu.md): no flash-attention, no compile, fp32 GEMMs
        "model.use_remove_padding=false",
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
    # VERL_ENGINE_DEVICE=cuda: verl registers its FSDP engine for cuda/npu only (docs/cpu.md, gap 3); torchrun would
    # otherwise set OMP_NUM_THREADS=1
    env = cpu_env(
        {"VERL_ENGINE_DEVICE": "cuda", "VERL_FILE_LOGGER_PATH": str(run / "metrics.jsonl"), "OMP_NUM_THREADS": "2"}
    )
    start = time.perf_counter()
    run_logged(cmd, run / "sft.log", env=env, cwd=run, timeout=3600)
    (run / "wall_s.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
    return finished_sft(work)


def finished_sft(work: Path) -> tuple[Path, dict[int, dict], float | None]:
    """The exported HF model, metrics and wall time (None if not recorded) of the SFT run in ``work/sft``."""
    run = work / "sft"
    step = int((run / "ckpt" / "latest_checkpointed_iteration.txt").read_text().strip())
    hf_dir = run / "ckpt" / f"global_step_{step}" / "huggingface"
    if not list(hf_dir.glob("*.safetensors")):
        raise RuntimeError(f"{hf_dir}: verl's SFT trainer exported no weights (checkpoint.save_contents hf_model)")
    wall = float((run / "wall_s.txt").read_text()) if (run / "wall_s.txt").is_file() else None
    return hf_dir, metrics_by_step(run / "metrics.jsonl"), wall


def run_grpo(
    work: Path,
    model: Path,
    data_dir: Path,
    steps: int,
    test_freq: int,
    lr: float,
    batch: int,
    n: int,
    val_temperature: float,
    val_n: int,
) -> tuple[Path, float]:
    """``python -m verl_med_plugin.main``: GRPO with verl-med's dataset class, default rewards and curriculum
    sampler, validation before training and every ``test_freq`` steps (greedy, verl's default val_kwargs)."""
    run = work / "grpo"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    start = time.perf_counter()
    run_logged(
        [
            sys.executable,
            "-m",
            "verl_med_plugin.main",
            *grpo_overrides(run, model, data_dir, steps, test_freq, lr, batch, n, val_temperature, val_n),
        ],
        run / "train.log",
        env=cpu_env({"VERL_FILE_LOGGER_PATH": str(run / "metrics.jsonl")}),
        cwd=run,
        timeout=7200,
    )
    return run, time.perf_counter() - start


def grpo_overrides(
    run: Path,
    model: Path,
    data_dir: Path,
    steps: int,
    test_freq: int,
    lr: float,
    batch: int,
    n: int,
    val_temperature: float = 0.0,
    val_n: int = 1,
) -> list[str]:
    """Hydra overrides of the GRPO run (``tests/cpu_e2e.py``'s CPU recipe plus this benchmark's sizes).
    ``val_temperature`` 0: greedy validation (verl's default); else ``val_n`` samples per image at that
    temperature, i.e. the accuracy of the policy GRPO trains rather than of its most likely answer."""
    val = "actor_rollout_ref.rollout.val_kwargs"
    sampling = (
        [f"{val}.n={val_n}", f"{val}.do_sample=true", f"{val}.temperature={val_temperature}"]
        if val_temperature > 0
        else []
    )
    return [
        *sampling,
        f"actor_rollout_ref.model.path={model}",
        f"med.data_dir={data_dir}",
        f"med.dataset={DATASET}",
        # SFT saw the converter's prompt with the model's own chat template: keep GRPO's prompts identical
        "med.knowledge.mode=none",
        "med.template=null",
        "med.sampler.enable=true",
        *CPU_OVERRIDES,
        *SMALL_RUN,
        f"data.train_batch_size={batch}",
        f"actor_rollout_ref.rollout.n={n}",
        "data.max_response_length=32",
        f"data.val_batch_size={2 * N_VAL_PER_CLASS}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={batch}",
        f"actor_rollout_ref.actor.optim.lr={lr}",
        f"trainer.total_training_steps={steps}",
        f"trainer.test_freq={test_freq}",
        "trainer.val_before_train=true",
        "trainer.save_freq=-1",
        f"trainer.default_local_dir={run / 'ckpt'}",
        f"trainer.validation_data_dir={run / 'val'}",
        f"trainer.rollout_data_dir={run / 'rollout'}",
        f"hydra.run.dir={run}",
    ]


def evaluate(run: Path, data: Path, out: Path) -> dict[str, Any]:
    """``verl-med-eval`` on the validation dumps (and rollouts): metrics.json, summary.md and the curve PNGs."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        str(Path(sys.executable).parent / "verl-med-eval"),
        f"grpo={run / 'val'}",
        "--rollouts",
        f"grpo={run / 'rollout'}",
        "--data",
        str(data / "val.parquet"),
        "--reward_kwargs",
        f"grpo={run / '.hydra' / 'config.yaml'}",
        "--out",
        str(out),
    ]
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, text=True, timeout=900)
    return json.loads((out / "metrics.json").read_text())


def phase_times(metrics: dict[int, dict]) -> dict[str, dict[str, float]]:
    """Mean and max over training steps of each ``timing_s/<phase>`` verl logged (seconds)."""
    table = {}
    for phase in PHASES:
        values = [m[f"timing_s/{phase}"] for m in metrics.values() if f"timing_s/{phase}" in m]
        if values:
            table[phase] = {
                "mean_s": round(float(np.mean(values)), 4),
                "max_s": round(float(np.max(values)), 4),
                "steps": len(values),
            }
    return table


def dataset_seconds_per_item(run: Path, repeats: int = 5) -> float:
    """``MedRLHFDataset.__getitem__`` (the class, config, processor and parquet of the GRPO run), best mean of
    ``repeats`` passes over the training rows: verl's loader calls it outside its step timer."""
    from omegaconf import OmegaConf

    sys.path.insert(0, str(REPO))
    from verl_med_plugin import verl_compat

    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    model = verl_compat.load_rollout_model(config)
    dataset = verl_compat.create_dataset([config.data.train_files], config.data, model.tokenizer, model.processor)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(len(dataset)):
            dataset[i]
        best = min(best, (time.perf_counter() - start) / len(dataset))
    return best


def reward_seconds_per_response(run: Path, data: Path, repeats: int = 5) -> tuple[float, int]:
    """verl-med's ``compute_score`` alone, on every response the GRPO run generated (its rollout dumps), with the
    run's reward kwargs; best mean of ``repeats`` passes. Returns (seconds per response, responses)."""
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf

    sys.path.insert(0, str(REPO))
    from reward_fns import compute_score

    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    kwargs = OmegaConf.to_container(config.reward.custom_reward_function.reward_kwargs, resolve=True)
    info = {
        row["reward_model"]["ground_truth"]: row["extra_info"]
        for row in pq.read_table(data / "train.parquet").to_pylist()
    }
    records = [
        json.loads(line)
        for path in sorted((run / "rollout").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    calls = [(rec["output"], rec["gts"], info[rec["gts"]]) for rec in records]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for output, gt, extra in calls:
            compute_score(f"verl_med/{DATASET}", output, gt, extra, **kwargs)
        best = min(best, (time.perf_counter() - start) / max(1, len(calls)))
    return best, len(calls)


def plugin_share(
    times: dict[str, dict[str, float]], dataset_s: float, reward_s: float, prompts: int, trajectories: int
) -> dict[str, Any]:
    """verl-med's own seconds per step (dataset items, reward calls, sampler update) against verl's step time.

    >>> plugin_share({"step": {"mean_s": 10.0}, "med_sampler": {"mean_s": 0.01}}, 0.001, 0.0001, 2, 8)["share_pct"]
    {'dataset': 0.02, 'reward': 0.008, 'med_sampler': 0.1, 'total': 0.128}
    """
    step = times["step"]["mean_s"]
    own = {
        "dataset": dataset_s * prompts,
        "reward": reward_s * trajectories,
        "med_sampler": times.get("med_sampler", {}).get("mean_s", 0.0),
    }
    own["total"] = sum(own.values())
    return {
        "seconds_per_step": {k: round(v, 6) for k, v in own.items()},
        "verl_step_s": step,
        "share_pct": {k: round(100 * v / step, 4) for k, v in own.items()},
    }


def _curve(report: dict[str, Any]) -> dict[str, list]:
    (run,) = report["runs"]
    (curve,) = run["curves"].values()  # one dataset
    return curve


def markdown(result: dict[str, Any]) -> str:
    """The summary of ``learning.json`` (every number copied from it)."""
    g, s, share = result["grpo"], result["sft"], result["plugin_share"]
    val = result["validation"]
    lines = [
        "# Learning benchmark",
        "",
        f"`python benchmarks/bench_learning.py --minutes {result['args']['minutes']}` on {result['machine']['cpus']} "
        f"CPUs (load average {result['machine']['load_avg_1m']} at the end; the machine is shared). Tiny random-weight "
        f"Qwen2.5-VL (~20 M parameters), synthetic task: is the {IMAGE_SIDE}-px image mostly red or mostly blue "
        f"({result['data']['train_rows']} training, {result['data']['val_rows']} validation images).",
        "",
        f"1. SFT warm-up, verl's SFT trainer (`verl.trainer.sft_trainer`, FSDP2/gloo on the CPU test-bed platform): "
        f"{s['steps']} steps, loss {s['first_loss']:.3f} -> {s['last_loss']:.3f}, wall "
        f"{'not recorded' if s['wall_s'] is None else format(s['wall_s'], '.0f') + ' s'}.",
        f"2. GRPO, `python -m verl_med_plugin.main` (verl-med dataset class, default rewards, curriculum sampler): "
        f"{g['steps']} steps of {g['prompts_per_step']} prompts x {g['samples_per_prompt']} samples, wall "
        f"{g['wall_s']:.0f} s of which {g['train_s']:.0f} s in training steps.",
        "",
        f"## Validation ({result['validation_sampling']}, verl's dumps scored by `verl-med-eval`)",
        "",
        "| GRPO step | accuracy | format compliance | mean reward (score) |",
        "| --- | --- | --- | --- |",
    ]
    for i, step in enumerate(val["step"]):
        lines.append(
            f"| {step} | {val['accuracy'][i]:.3f} | {val['format_compliance'][i]:.3f} | {val['score'][i]:.3f} |"
        )
    lines += [
        "",
        f"Accuracy before GRPO (step 0, after SFT): **{val['accuracy'][0]:.3f}**; after "
        f"{val['step'][-1]} steps: **{val['accuracy'][-1]:.3f}** (chance 0.5). {result['verdict']}",
        "",
        "Training reward per step (verl's `critic/score/mean`): "
        + ", ".join(f"{x:.2f}" for x in result["train_curve"]["score_mean"])
        + ".",
        "",
        "## Time per GRPO step (verl's `timing_s/*`, mean over steps)",
        "",
        "| phase | mean s | max s |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {k} | {v['mean_s']:.3f} | {v['max_s']:.3f} |" for k, v in g["phase_times"].items()]
    lines += [
        "",
        "## verl-med's share of a step",
        "",
        "| part | seconds per step | share of verl's step |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {k} | {share['seconds_per_step'][k]:.6f} | {share['share_pct'][k]:.4f} % |"
        for k in share["seconds_per_step"]
    ]
    lines += [
        "",
        "dataset: `MedRLHFDataset.__getitem__` measured in-process on the run's parquet, config and "
        "processor x prompts per step (verl's loader runs it outside its step timer); reward: verl-med's "
        "`compute_score` alone on every response the run generated x trajectories per step (verl 0.9.1 scores "
        "inside its agent loop, during `gen`, and logs no reward time of its own); med_sampler: "
        "`timing_s/med_sampler` (after verl's `step` timer).",
        "",
        "Curves and the full evaluation: `learning_eval/` (`verl-med-eval` report). Logs of both runs stay in "
        f"`{result['args']['work']}`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0, help="GRPO training budget")
    parser.add_argument(
        "--step_seconds",
        "--step-seconds",
        type=float,
        default=25.0,
        help="expected GRPO step time on this machine: steps = minutes * 60 / step_seconds",
    )
    parser.add_argument("--validations", type=int, default=4, help="validations during GRPO (besides step 0)")
    parser.add_argument("--sft_epochs", "--sft-epochs", type=int, default=5)
    parser.add_argument("--sft_lr", "--sft-lr", type=float, default=3e-3)
    parser.add_argument("--grpo_lr", "--grpo-lr", type=float, default=1e-4)
    parser.add_argument("--val_temperature", "--val-temperature", type=float, default=1.0, help="0: greedy validation")
    parser.add_argument(
        "--val_samples", "--val-samples", type=int, default=4, help="samples per validation image when sampling"
    )
    parser.add_argument("--prompts", type=int, default=8, help="prompts per GRPO step")
    parser.add_argument("--samples", type=int, default=4, help="samples per prompt (GRPO group size)")
    parser.add_argument(
        "--reuse_sft",
        "--reuse-sft",
        action="store_true",
        help="keep the finished SFT warm-up in --work/sft (e.g. after a failed GRPO start)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_learning"))
    args = parser.parse_args(argv)
    steps = max(1, int(args.minutes * 60 // args.step_seconds))
    test_freq = max(1, -(-steps // max(1, args.validations)))
    args.work.mkdir(parents=True, exist_ok=True)

    data = write_data(args.work)
    model = build_model(args.work)
    if args.reuse_sft:
        sft_model, sft_metrics, sft_wall = finished_sft(args.work)
    else:
        print(f"SFT warm-up ({args.sft_epochs} epochs) ...", flush=True)
        sft_model, sft_metrics, sft_wall = run_sft(args.work, model, data, args.sft_epochs, args.sft_lr)
    losses = [m["train/loss"] for _, m in sorted(sft_metrics.items()) if "train/loss" in m]
    print(f"GRPO: {steps} steps, validation every {test_freq} ...", flush=True)
    try:
        run, grpo_wall = run_grpo(
            args.work,
            sft_model,
            data.parent,
            steps,
            test_freq,
            args.grpo_lr,
            args.prompts,
            args.samples,
            args.val_temperature,
            args.val_samples,
        )
    finally:
        stop_ray()
    metrics = metrics_by_step(run / "metrics.jsonl")
    train = {k: v for k, v in metrics.items() if "timing_s/step" in v}
    times = phase_times(train)
    report = evaluate(run, data, args.out / "learning_eval")
    curve = _curve(report)
    dataset_s = dataset_seconds_per_item(run)
    reward_s, n_responses = reward_seconds_per_response(run, data)
    share = plugin_share(times, dataset_s, reward_s, args.prompts, args.prompts * args.samples)
    before, after = curve["accuracy"][0], curve["accuracy"][-1]
    verdict = (
        "GRPO improved validation accuracy."
        if after > before
        else "GRPO did not improve validation accuracy in this budget."
        if after == before
        else "Validation accuracy fell during GRPO."
    )
    result = {
        "args": {
            "minutes": args.minutes,
            "step_seconds": args.step_seconds,
            "sft_epochs": args.sft_epochs,
            "sft_lr": args.sft_lr,
            "grpo_lr": args.grpo_lr,
            "work": str(args.work),
            "reuse_sft": args.reuse_sft,
        },
        "machine": machine_info(),
        "data": {
            "task": "mostly red vs mostly blue",
            "image_side": IMAGE_SIDE,
            "train_rows": 2 * N_TRAIN_PER_CLASS,
            "val_rows": 2 * N_VAL_PER_CLASS,
        },
        "sft": {
            "trainer": "verl.trainer.sft_trainer (FSDP2, gloo, CPU test-bed platform)",
            "steps": len(losses),
            "first_loss": losses[0],
            "last_loss": losses[-1],
            "loss": losses,
            "wall_s": round(sft_wall, 1) if sft_wall is not None else None,
            "reused": args.reuse_sft,
        },
        "grpo": {
            "steps": len(train),
            "test_freq": test_freq,
            "prompts_per_step": args.prompts,
            "samples_per_prompt": args.samples,
            "wall_s": round(grpo_wall, 1),
            "train_s": round(
                sum(
                    m["timing_s/step"] + m.get("timing_s/med_sampler", 0.0) + m.get("timing_s/testing", 0.0)
                    for m in train.values()
                ),
                1,
            ),
            "phase_times": times,
        },
        "validation_sampling": (
            f"{args.val_samples} samples per image at temperature {args.val_temperature}"
            if args.val_temperature > 0
            else "greedy"
        ),
        "validation": {k: curve[k] for k in ("step", "accuracy", "format_compliance", "score") if k in curve},
        "accuracy_before": before,
        "accuracy_after": after,
        "verdict": verdict,
        "train_curve": {
            "step": sorted(train),
            "score_mean": [train[k]["critic/score/mean"] for k in sorted(train)],
            "batch_acc": [train[k].get("med_sampler/batch_acc") for k in sorted(train)],
        },
        "plugin_share": {
            **share,
            "dataset_s_per_item": dataset_s,
            "reward_s_per_response": reward_s,
            "reward_responses_timed": n_responses,
        },
        "eval_report": "learning_eval/",
    }
    save(args.out / "learning.json", result, markdown(result))


if __name__ == "__main__":
    main()
