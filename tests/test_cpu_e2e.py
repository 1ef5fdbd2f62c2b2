"""verl-med inside verl's real trainer, end to end on CPU: GRPO steps with vLLM's CPU build as rollout and FSDP2
over gloo as actor and reference, on a tiny random-weight Qwen2.5-VL and fixture MedMNIST data.

Start-up (Ray, workers, vLLM) costs minutes, so each verl start is a module fixture and several tests read what
it left: the file logger, ``med_sampler_outcomes.jsonl``, checkpoints and validation dumps. A failed run raises
with the relevant lines of its log (the whole log stays in the run folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cpu_e2e import (
    CPU_OVERRIDES,
    CPU_REQUIRED,
    SMALL_BATCHES,
    SMALL_RUN,
    cpu_env,
    metrics_by_step,
    outcomes_by_step,
    read_jsonl,
    run_logged,
)
from fixtures_data import REPO, write_fake_medmnist_npz
from fixtures_model import build_tiny_qwen_vl_dir
from fixtures_zoom import REWARD_FRAME, warm_start, warm_start_cache
from omegaconf import OmegaConf
from sklearn.metrics import accuracy_score

pytestmark = pytest.mark.e2e

STEPS = 3
SHAPED_REWARD = str(REPO / "tests" / "e2e_reward.py")  # real reward on a rule-picked grade + a shaping term
# VERL_MED_E2E_DIR=<dir>: keep the runs there and reuse a finished one (checking a test's mutation without a new run).
REUSE_DIR = os.environ.get("VERL_MED_E2E_DIR")
# Rollout (vLLM, bf16) vs actor (FSDP, fp32) log-probs of the sampled tokens, from verl's rollout-correction metrics
# (verl/trainer/ppo/rollout_corr_helper.py compute_offpolicy_metrics: per sequence, the mean log-prob under each
# policy; ``log_ppl_diff`` is their difference). Measured (docs/cpu.md): synced weights, and the
# ``stale_rollout_weights`` mutation (vLLM keeps its start-up weights while the actor trains).
LOGPROB_GAP_MAX = 0.02


def _testbed_ready() -> str | None:
    try:
        import importlib.metadata as md

        md.version("verl-med-cpu-testbed")
        md.version("vllm")
    except Exception:  # noqa: BLE001
        return "the CPU test bed is not installed (bash scripts/setup.sh --cpu)"
    return None


if _testbed_ready():
    pytest.skip(_testbed_ready(), allow_module_level=True)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """A tiny trainable Qwen2.5-VL (random weights, real tokenizer and processor) and RetinaMNIST-layout data
    converted by our own converter."""
    root = Path(REUSE_DIR) if REUSE_DIR else tmp_path_factory.mktemp("e2e")
    model, data = root / "model", root / "data"
    if REUSE_DIR and (data / "retinamnist" / "val.parquet").is_file() and (model / "model.safetensors").is_file():
        return {"root": root, "model": model, "data": data}
    build_tiny_qwen_vl_dir(model, weights=True)
    npz = write_fake_medmnist_npz(root / "npz" / "retinamnist.npz", n_classes=5, counts=(10, 5, 5), seed=1)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "data_preprocess.medmnist",
            "--dataset",
            "retinamnist",
            "--size",
            "28",
            "--npz",
            str(npz),
            "--image_size",
            "56",
            "--output_dir",
            str(data / "retinamnist"),
        ],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    for split in ("train", "val"):
        _number_the_cases(data / "retinamnist" / f"{split}.parquet")
    return {"root": root, "model": model, "data": data}


def _number_the_cases(parquet: Path) -> None:
    """Every row gets its own question ("Case 7: ..."), in the prompt and in ``extra_info.question``: MedMNIST rows
    of one dataset share their question and (at one image size) their token count, so without this a prompt
    rendered for the wrong row would carry the same token ids as the right one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    rows = table.to_pylist()
    for row in rows:
        question = row["extra_info"]["question"]
        numbered = f"Case {row['extra_info']['index']}: {question}"
        row["extra_info"]["question"] = numbered
        for message in row["prompt"]:
            message["content"] = message["content"].replace(question, numbered)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), parquet)


def _train(
    e2e: dict,
    name: str,
    *extra: str,
    module: str = "verl_med_plugin.main",
    env: dict[str, str] | None = None,
    cpu_overrides: tuple[str, ...] = tuple(CPU_OVERRIDES),
    small_run: tuple[str, ...] = tuple(SMALL_RUN),
    model: Path | None = None,
    data: tuple[Path, str] | None = None,
) -> Path:
    run = e2e["root"] / name
    if REUSE_DIR and (run / "finished").is_file():
        return run
    if REUSE_DIR:
        shutil.rmtree(run, ignore_errors=True)  # an unfinished earlier attempt
    run.mkdir()
    common = [
        f"actor_rollout_ref.model.path={model or e2e['model']}",
        f"trainer.default_local_dir={run / 'ckpt'}",
        f"trainer.validation_data_dir={run / 'val'}",
        f"trainer.rollout_data_dir={run / 'rollout'}",
        "trainer.val_before_train=false",
        *cpu_overrides,
        *small_run,
    ]
    if module == "verl_med_plugin.main":
        data_dir, dataset = data or (e2e["data"], "retinamnist")
        common += [f"med.data_dir={data_dir}", f"med.dataset={dataset}", f"hydra.run.dir={run}"]
    run_logged(
        [sys.executable, "-m", module, *common, *extra],
        run / "train.log",
        env=cpu_env({"VERL_FILE_LOGGER_PATH": str(run / "metrics.jsonl"), **(env or {})}),
        cwd=run,
    )
    (run / "finished").touch()
    return run


@pytest.fixture(scope="module")
def grpo_run(e2e) -> Path:
    """3 GRPO steps: knowledge in the user turn, MFRS, curriculum sampler; a checkpoint every step, validation at
    the end."""
    return _train(
        e2e,
        "grpo",
        f"reward.custom_reward_function.path={SHAPED_REWARD}",
        "med.knowledge.mode=user",
        "+med.reward.ordinal_reward=mfrs",
        "med.sampler.enable=true",
        f"trainer.total_training_steps={STEPS}",
        "trainer.save_freq=1",
        f"trainer.test_freq={STEPS}",
        "actor_rollout_ref.actor.optim.lr=1e-3",
    )


def _logprob_gap(step_metrics: dict) -> float:
    """Largest per-sequence difference between the rollout's and the actor's mean log-prob of the sampled tokens
    (verl's ``rollout_corr/log_ppl_diff_{max,min}``). Log-probs, not probabilities: with a random model over a
    151k vocabulary every probability is ~1e-5, so probability differences stay tiny even for unsynced weights."""
    return max(abs(step_metrics["rollout_corr/log_ppl_diff_max"]), abs(step_metrics["rollout_corr/log_ppl_diff_min"]))


def _record(run: Path, key: str, value) -> None:
    """Measured values of the proofs, kept beside the run (``measured.json``) for docs/cpu.md's table."""
    path = run / "measured.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=1))


def _sampler_state(obj):
    """The curriculum sampler's ``state_dict`` inside verl's ``data.pt`` (the dataloader's state)."""
    if isinstance(obj, dict):
        if {"weights", "fingerprint", "rng"} <= set(obj):
            return obj
        for value in obj.values():
            found = _sampler_state(value)
            if found is not None:
                return found
    return None


def _run_config(run: Path):
    return OmegaConf.load(run / ".hydra" / "config.yaml")


def _train_dataset(config):
    from verl_med_plugin import verl_compat

    model = verl_compat.load_rollout_model(config)
    dataset = verl_compat.create_dataset([config.data.train_files], config.data, model.tokenizer, model.processor)
    return dataset, model


def test_grpo_steps_update_the_actor(grpo_run, e2e):
    metrics = metrics_by_step(grpo_run / "metrics.jsonl")
    assert sorted(metrics) == list(range(1, STEPS + 1))
    # Rewards vary within groups: non-zero advantages and gradients, and from step 2 on the policy has moved away
    # from the reference (KL > 0) while vLLM samples from the synced weights: the rollout's log-probs of the
    # sampled tokens equal the actor's up to bf16 rounding. Mutation (the stale control, test_stale_rollout_weights_
    # fail_the_weight_sync_check: vLLM never receives the actor's weights) gives a gap far above LOGPROB_GAP_MAX.
    assert all(m["critic/advantages/max"] > 0 and m["actor/grad_norm"] > 0 for m in metrics.values())
    assert all(metrics[step]["actor/kl_loss"] > 0 for step in range(2, STEPS + 1))
    gaps = {step: _logprob_gap(m) for step, m in metrics.items()}
    _record(grpo_run, "logprob_gap_synced", gaps)
    assert all(gap < LOGPROB_GAP_MAX for gap in gaps.values()), gaps
    # Every step left a checkpoint; the trained weights differ from the initial ones.
    tracker = (grpo_run / "ckpt" / "latest_checkpointed_iteration.txt").read_text().strip()
    assert tracker == str(STEPS)
    from safetensors.torch import load_file

    initial = load_file(str(e2e["model"] / "model.safetensors"))
    shard = torch.load(
        grpo_run / "ckpt" / f"global_step_{STEPS}" / "actor" / "model_world_size_1_rank_0.pt",
        weights_only=False,
        map_location="cpu",
    )
    changed = [
        name
        for name, tensor in shard.items()
        if name.endswith("layers.0.mlp.down_proj.weight")
        and not torch.equal(
            tensor.to_local().float() if hasattr(tensor, "to_local") else tensor.float(),
            next(v for k, v in initial.items() if k.endswith("layers.0.mlp.down_proj.weight")).float(),
        )
    ]
    assert changed, "the actor's weights did not change"


def test_every_trajectory_carried_the_sampler_fields_and_metrics_reached_the_logger(grpo_run):
    outcomes = outcomes_by_step(grpo_run / "ckpt" / "med_sampler_outcomes.jsonl")
    assert sorted(outcomes) == list(range(1, STEPS + 1))
    for record in outcomes.values():
        # 2 prompts x 4 samples: sampler_index, uid (group), rm_scores and reward_extra_info.acc per trajectory.
        assert len(record["sample_indices"]) == len(record["accuracy"]) == len(record["scores"]) == 8
        assert sorted(np.bincount(record["group_ids"]).tolist()) == [4, 4]
        assert all(0 <= i < 10 for i in record["sample_indices"])
        assert any(s > 0 for s in record["scores"])  # the shaping term reached rm_scores
    metrics = metrics_by_step(grpo_run / "metrics.jsonl")
    for step, data in metrics.items():
        assert {
            "med_sampler/batch_acc",
            "med_sampler/zero_adv_group_frac",
            "med_sampler/seen_frac",
            "timing_s/med_sampler",
        } <= set(data)
        assert not [k for k in data if k.startswith("med_sampler/") and (" " in k or ":" in k)]  # loggers choke
        assert data["med_sampler/batch_acc"] == pytest.approx(np.mean(outcomes[step]["accuracy"]))
    # The sampler was fed accuracy that varies (some answers right, some wrong), and exactly the accuracy the fixture
    # rule gives each dumped response (recomputed here from verl's rollout dump with sklearn). Mutation: a sampler
    # reading another reward key (``format`` is 1 for every answer here) fails the per-step comparison (checked on
    # the kept run by counting every answer right).
    accuracy = np.concatenate([record["accuracy"] for record in outcomes.values()])
    assert 0 < accuracy.mean() < 1, accuracy
    for step, record in outcomes.items():
        dumped = read_jsonl(grpo_run / "rollout" / f"{step}.jsonl")
        truth, picked = _rule_answers(dumped)
        correct = int(accuracy_score(truth, picked, normalize=False))
        assert sorted(record["accuracy"]) == sorted([1.0] * correct + [0.0] * (len(dumped) - correct)), step


def test_sampler_weights_after_each_checkpoint_equal_the_replayed_outcomes(grpo_run):
    from verl_med_plugin.med_settings import SamplerSettings
    from verl_med_plugin.sampler import MedCurriculumSampler

    config = _run_config(grpo_run)
    dataset, _ = _train_dataset(config)
    settings = SamplerSettings.from_config(config.med.sampler)
    replay = MedCurriculumSampler.from_dataset(dataset, settings, int(config.data.train_batch_size))
    outcomes = outcomes_by_step(grpo_run / "ckpt" / "med_sampler_outcomes.jsonl")
    for step in range(1, STEPS + 1):
        record = outcomes[step]
        replay.update(
            np.array(record["sample_indices"]),
            np.array(record["accuracy"]),
            np.array(record["group_ids"]),
            np.array(record["scores"]),
        )
        saved = _sampler_state(torch.load(grpo_run / "ckpt" / f"global_step_{step}" / "data.pt", weights_only=False))
        assert saved is not None, f"no sampler state in global_step_{step}/data.pt"
        np.testing.assert_array_equal(np.asarray(saved["weights"]), replay.state_dict()["weights"])
        np.testing.assert_allclose(np.asarray(saved["acc"]), replay.state_dict()["acc"])


def test_rollout_prompt_ids_equal_the_dry_run_rendering(grpo_run):
    from verl_med_plugin.dataset import render_prompt

    config = _run_config(grpo_run)
    dataset, model = _train_dataset(config)
    first = outcomes_by_step(grpo_run / "ckpt" / "med_sampler_outcomes.jsonl")[1]
    rendered = render_prompt(
        dataset, model.processor, index=first["first_sampler_index"], hf_model_type=model.hf_config.model_type
    )
    assert rendered.num_image_tokens > 0 and "Background knowledge" in rendered.text
    assert first["first_prompt_ids"] == rendered.token_ids
    # Rows differ in their prompt ("Case i: ..."), so the row next to the drawn one renders other ids. Mutation: an
    # index off by one between the sampler and the prompt fails the equality above (checked on the kept run:
    # index + 1 differs at the case number's token).
    other = render_prompt(
        dataset,
        model.processor,
        index=(first["first_sampler_index"] + 1) % len(dataset),
        hf_model_type=model.hf_config.model_type,
    )
    assert other.token_ids != rendered.token_ids


def _rule_answers(dumped: list[dict]) -> tuple[list[str], list[str]]:
    """Ground truths and the fixture rule's answers (``e2e_reward.picked_grade``) of dumped responses."""
    from e2e_reward import picked_grade
    from fixtures_data import RETINA_LABELS

    return [r["gts"] for r in dumped], [RETINA_LABELS[picked_grade(r["output"], len(RETINA_LABELS))] for r in dumped]


def _independent_reading(dumped: list[dict]) -> tuple[list[int], list[int], list[bool]]:
    """Truth and predicted grade indices (-1: no answer) and format, read from the raw responses with a regex of
    the prompt's format (``<think> ... </think> <answer>grade (0-4)</answer>``), not with reward_fns' parser."""
    from fixtures_data import RETINA_LABELS

    shape = re.compile(r"\s*<think>.*?</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)
    truth, predicted, formatted = [], [], []
    for r in dumped:
        match = shape.fullmatch(r["output"])
        grade = re.fullmatch(r"\s*(?:grade\s*)?([0-4])\s*\.?\s*", match.group(1), re.IGNORECASE) if match else None
        truth.append(RETINA_LABELS.index(r["gts"]))
        predicted.append(int(grade.group(1)) if grade else -1)
        formatted.append(match is not None)
    return truth, predicted, formatted


def _graded_copy(dump: Path, out: Path, field: str) -> None:
    """``dump`` with every response's rule answer (``e2e_reward.picked_grade``, the answer the reward graded) put
    in ``field``: as a well-formed response (``output``) or as its 0/1 correctness (``score``). A random model's own
    text is never well-formed, so the report's numbers on it are all 0 and could not differ from anything."""
    from e2e_reward import picked_grade

    out.mkdir(parents=True, exist_ok=True)
    records = read_jsonl(dump)
    _, picked = _rule_answers(records)
    for record, answer in zip(records, picked, strict=True):
        if field == "output":
            grade = picked_grade(record["output"], 5)
            record["output"] = f"<think>rule</think><answer>{grade}</answer>"
        else:
            record["score"] = float(answer == record["gts"])
    (out / dump.name).write_text("".join(json.dumps(r) + "\n" for r in records))


def _verl_med_eval(*args: str) -> dict:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "verl-med-eval"), *args, "--bootstrap", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = Path(args[args.index("--out") + 1])
    assert (out / "summary.md").is_file() and any(out.glob("*.png"))
    return json.loads((out / "metrics.json").read_text())


def test_validation_report_numbers_equal_an_independent_computation(grpo_run, e2e):
    """``verl-med-eval`` on the run's validation and rollout dumps. Its numbers on the raw responses equal a regex
    reading scored with sklearn (all 0 here: a random model writes no ``<answer>``). On the same dump with each
    response replaced by the answer the reward graded, its accuracy, balanced accuracy, macro-F1, QWK and MAE
    equal sklearn's on those answers; and its zero-advantage fraction per step, on the rollout dump scored 0/1 by
    the same rule, equals pandas' count over the GRPO groups (uid prefix). The dump's own ``acc`` equals the rule's
    accuracy. Mutation (checked on the kept run, VERL_MED_E2E_DIR): ground truths shifted by one row make
    verl-med-eval refuse the dump (each gts is no ground truth of its numbered case's row)."""
    import pandas as pd
    from fixtures_data import RETINA_LABELS
    from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score, f1_score

    dumps = sorted((grpo_run / "val").glob("*.jsonl"))
    assert [p.name for p in dumps] == [f"{STEPS}.jsonl"]
    data = str(e2e["data"] / "retinamnist" / "val.parquet")
    kwargs = f"{grpo_run / '.hydra' / 'config.yaml'}"
    raw = _verl_med_eval(
        f"grpo={grpo_run / 'val'}", "--data", data, "--reward_kwargs", kwargs, "--out", str(grpo_run / "report")
    )
    dumped = read_jsonl(dumps[-1])
    truth, predicted, formatted = _independent_reading(dumped)
    scored = raw["runs"][0]["datasets"]["retinamnist"]
    assert scored["n_samples"] == len(dumped)
    assert scored["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert scored["format_compliance"] == pytest.approx(np.mean(formatted))
    rule_truth, rule_picked = _rule_answers(dumped)
    rule_acc = accuracy_score(rule_truth, rule_picked)
    assert np.mean([r["acc"] for r in dumped]) == pytest.approx(rule_acc)

    graded = grpo_run / "graded"
    _graded_copy(dumps[-1], graded / "val", "output")
    for dump in (grpo_run / "rollout").glob("*.jsonl"):
        _graded_copy(dump, graded / "rollout", "score")
    report = _verl_med_eval(
        f"grpo={graded / 'val'}",
        "--rollouts",
        f"grpo={graded / 'rollout'}",
        "--data",
        data,
        "--reward_kwargs",
        kwargs,
        "--out",
        str(graded / "report"),
    )["runs"][0]
    y_true = [RETINA_LABELS.index(t) for t in rule_truth]
    y_pred = [RETINA_LABELS.index(p) for p in rule_picked]
    on_rule = report["datasets"]["retinamnist"]
    expected = {
        "format_compliance": 1.0,
        "accuracy": rule_acc,
        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
        "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
        "qwk": cohen_kappa_score(y_true, y_pred, labels=list(range(5)), weights="quadratic"),
        "mae": float(np.mean(np.abs(np.subtract(y_true, y_pred)))),
    }
    assert {k: on_rule[k] for k in expected} == pytest.approx(expected)
    # zero-advantage GRPO groups per step: uid = "{prompt uuid}_{session}_{output index}"
    rollout = pd.concat(
        [pd.DataFrame(read_jsonl(p)).assign(file_step=int(p.stem)) for p in (graded / "rollout").glob("*.jsonl")]
    )
    rollout["group"] = rollout["uid"].str.rsplit("_", n=2).str[0]
    spread = rollout.groupby(["file_step", "group"])["score"].agg(lambda v: np.ptp(v.to_numpy()))
    zero = (spread == 0).groupby(level="file_step").mean().sort_index()
    sparsity = report["rollout_sparsity"]["by_step"]
    assert sparsity["step"] == zero.index.tolist()
    assert sparsity["score"] == pytest.approx(zero.tolist())
    _record(
        grpo_run,
        "validation",
        {"raw": {"accuracy": scored["accuracy"], "format": scored["format_compliance"]}, "rule": expected}
        | {"zero_advantage_by_step": zero.tolist()},
    )


@pytest.fixture(scope="module")
def resumed_run(grpo_run, e2e) -> Path:
    """A new process resumed from the first checkpoint of ``grpo_run`` (as after a crash there), and the weight-sync
    proof's negative control in the same start: under the test bed's ``stale_rollout_weights`` mutation vLLM keeps
    the initial weights it loaded while the actor resumes from step 1's weights and trains on. Neither the sampler's
    draws nor its restored state depend on the rollout's weights (only on the outcomes, read from the log)."""
    return _train(
        e2e,
        "resumed",
        f"reward.custom_reward_function.path={SHAPED_REWARD}",
        "+med.reward.ordinal_reward=mfrs",
        f"trainer.total_training_steps={STEPS}",
        "trainer.save_freq=-1",
        "trainer.test_freq=-1",
        "actor_rollout_ref.actor.optim.lr=1e-3",
        "trainer.resume_mode=resume_path",
        f"trainer.resume_from_path={grpo_run / 'ckpt' / 'global_step_1'}",
        env={"VERL_MED_TESTBED_MUTATION": "stale_rollout_weights"},
    )


def test_stale_rollout_weights_fail_the_weight_sync_check(resumed_run):
    """The negative control of the weight-sync proof: when vLLM never receives the actor's weights, the log-prob gap
    is far above ``LOGPROB_GAP_MAX`` (the synced run stays below it)."""
    metrics = metrics_by_step(resumed_run / "metrics.jsonl")
    gaps = {step: _logprob_gap(m) for step, m in metrics.items()}
    _record(resumed_run, "logprob_gap_stale", gaps)
    assert sorted(gaps) == list(range(2, STEPS + 1))
    assert all(gap > LOGPROB_GAP_MAX for gap in gaps.values()), gaps


def test_resumed_run_draws_what_the_restored_sampler_draws(grpo_run, resumed_run):
    """Step 2 (the first after the checkpoint) draws exactly the uninterrupted run's prompts; step 3 draws what the
    sampler restored from checkpoint 1 and updated with the resumed run's own step-2 outcomes draws (the outcomes
    differ from the uninterrupted run's: generation is random, so accuracy differs). Mutation: replaying without the
    restored state (a fresh sampler) draws other prompts at step 2 (checked on the kept run: 7 drawn instead of 6)."""
    from verl_med_plugin.med_settings import SamplerSettings
    from verl_med_plugin.sampler import MedCurriculumSampler

    uninterrupted = outcomes_by_step(grpo_run / "ckpt" / "med_sampler_outcomes.jsonl")
    resumed = outcomes_by_step(resumed_run / "ckpt" / "med_sampler_outcomes.jsonl")
    assert sorted(resumed) == list(range(2, STEPS + 1))  # steps after the checkpoint only
    # the same prompts, n samples each (trajectories come back in any order)
    assert sorted(resumed[2]["sample_indices"]) == sorted(uninterrupted[2]["sample_indices"])
    config = _run_config(resumed_run)
    dataset, _ = _train_dataset(config)
    batch, n = int(config.data.train_batch_size), int(config.actor_rollout_ref.rollout.n)
    replay = MedCurriculumSampler.from_dataset(dataset, SamplerSettings.from_config(config.med.sampler), batch)
    checkpoint = torch.load(grpo_run / "ckpt" / "global_step_1" / "data.pt", weights_only=False)
    replay.load_state_dict(_sampler_state(checkpoint))
    draws = iter(replay)
    for step in range(2, STEPS + 1):
        drawn = [next(draws) for _ in range(batch)]
        assert sorted(np.repeat(drawn, n).tolist()) == sorted(resumed[step]["sample_indices"]), step
        record = resumed[step]
        replay.update(
            np.array(record["sample_indices"]),
            np.array(record["accuracy"]),
            np.array(record["group_ids"]),
            np.array(record["scores"]),
        )


def test_plain_verl_main_ppo_with_the_readme_overrides(e2e):
    """``python -m verl.trainer.main_ppo`` with only the README's overrides (plus the CPU ones): our dataset class and
    reward inside verl's own entry point, no verl-med entry point."""
    import json

    from test_plain_verl_command import README_OVERRIDES

    data = e2e["data"] / "retinamnist"
    run = _train(
        e2e,
        "plain_verl",
        *README_OVERRIDES,
        f"data.train_files={data / 'train.parquet'}",
        f"data.val_files={data / 'val.parquet'}",
        "algorithm.adv_estimator=grpo",
        "trainer.total_training_steps=1",
        "trainer.save_freq=-1",
        "trainer.test_freq=1",
        module="verl.trainer.main_ppo",
    )
    assert list(metrics_by_step(run / "metrics.jsonl")) == [1]
    rollout = [json.loads(line) for line in (run / "rollout" / "1.jsonl").read_text().splitlines()]
    assert all("Background knowledge:" in r["input"] for r in rollout)  # MedRLHFDataset injected the card
    validation = [json.loads(line) for line in (run / "val" / "1.jsonl").read_text().splitlines()]
    assert validation and {"acc", "format", "mfrs", "pred"} <= set(validation[0])  # reward_fns.compute_score's keys
    # trainer.v1.trainer_mode=med_sync: verl's own TaskRunnerV1 built MedSyncTrainer from its registry inside the Ray
    # actor (registered by our verl.plugins entry point there), and its curriculum sampler saw the step's outcomes.
    outcomes = outcomes_by_step(run / "ckpt" / "med_sampler_outcomes.jsonl")
    assert list(outcomes) == [1] and outcomes[1]["sample_indices"]


@pytest.fixture(scope="module")
def lora_chain(e2e) -> Path:
    """The main job's script as users run it (``examples/retinamnist_grpo_1gpu.sh``, its own hardware preset
    ``med/hardware=1gpu_lora``: LoRA rank 64 on the language model, gradient checkpointing, parameter and optimizer
    offload, layered summon, safetensors loading): prepare RetinaMNIST, train 2 steps, merge the last checkpoint,
    generate on the test split, evaluate. Added by environment variable: only the overrides a CPU cannot avoid
    (``CPU_REQUIRED``, docs/cpu.md; among them ``use_remove_padding=false``: verl's remove-padding attention for
    Qwen-VL needs flash-attention, gap 9), the small batches, 2 steps and the fixture reward."""
    runs, data = e2e["root"] / "chain_runs", e2e["root"] / "chain_data"
    if REUSE_DIR and (runs / "finished").is_file():
        return runs
    overrides = [
        *CPU_REQUIRED,
        *SMALL_BATCHES,
        "trainer.total_training_steps=2",
        "trainer.save_freq=2",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        f"reward.custom_reward_function.path={SHAPED_REWARD}",
        "actor_rollout_ref.actor.optim.lr=1e-3",  # the preset's 1e-5 barely moves a random model in 2 steps
    ]
    env = cpu_env(
        {
            "MEDMNIST_SIZE": "28",
            "MEDMNIST_NPZ_DIR": str(e2e["root"] / "npz"),
            "MODEL_PATH": str(e2e["model"]),
            "DATA_DIR": str(data),
            "RUNS_DIR": str(runs),
            "VERL_MED_EXTRA_OVERRIDES": " ".join(overrides),
            "VERL_MED_GENERATE_ARGS": "--max_tokens 16 --limit 4",
            "VERL_FILE_LOGGER_PATH": str(runs / "metrics.jsonl"),
        }
    )
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir()
    run_logged(["bash", str(REPO / "examples" / "retinamnist_grpo_1gpu.sh")], runs / "chain.log", env=env, cwd=runs)
    (runs / "finished").touch()
    return runs


def test_main_job_preset_trains_lora_syncs_the_adapter_and_evaluates(lora_chain, e2e):
    """LoRA training with the main job's preset: 2 steps whose rollout log-probs equal the actor's (the adapter
    reached vLLM: the actor's log-probs are computed with it, so a rollout without it would differ, as the stale
    control shows for full weights), a checkpoint, verl's merger writing ``lora_adapter/`` beside the untouched
    base weights, generation with the adapter merged, a report. Mutations: ``stale_rollout_adapter`` (the test bed
    resends the first adapter, vLLM samples from the base policy) fails the KL comparison at step 2 (9.4e-4 vs
    9.4e-4; the log-prob gap alone, 0.017, would pass); an adapter that never trained (peft
    initialises lora_B to zero) fails ``trained``; base weights changed by training fail ``base`` (LoRA freezes
    them); the vision tower in the adapter fails the exclusion (the preset excludes ``.*visual.*``)."""
    from safetensors.torch import load_file

    run = lora_chain / "retinamnist_default_qwen2_5_vl_3b"
    config = _run_config(run)
    assert config.actor_rollout_ref.model.lora_rank == 64 and config.actor_rollout_ref.rollout.layered_summon
    assert (run / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    metrics = metrics_by_step(lora_chain / "metrics.jsonl")
    assert sorted(metrics) == [1, 2]
    gaps = {step: _logprob_gap(m) for step, m in metrics.items()}
    _record(lora_chain, "logprob_gap_lora", gaps)
    assert all(m["actor/grad_norm"] > 0 for m in metrics.values())
    assert all(gap < LOGPROB_GAP_MAX for gap in gaps.values()), gaps
    # The rollout carries the adapter: at step 2 (after one adapter update) vLLM's log-probs are far closer to the
    # adapted actor's (rollout_corr/k3_kl) than the adapter-free reference's are (actor/kl_loss, the same k3
    # estimator). A vLLM without the adapter would be that reference, with a KL near actor/kl_loss.
    versus_actor, versus_reference = metrics[2]["rollout_corr/k3_kl"], metrics[2]["actor/kl_loss"]
    _record(lora_chain, "lora_kl_step2", {"rollout_vs_actor": versus_actor, "actor_vs_reference": versus_reference})
    assert versus_actor * 10 < versus_reference, (versus_actor, versus_reference)

    adapter = load_file(str(run / "hf_model" / "lora_adapter" / "adapter_model.safetensors"))
    assert json.loads((run / "hf_model" / "lora_adapter" / "adapter_config.json").read_text())["r"] == 64
    assert adapter and not [k for k in adapter if "visual" in k]
    trained = [k for k, v in adapter.items() if "lora_B" in k and v.abs().max() > 0]
    _record(lora_chain, "lora_B_nonzero", f"{len(trained)}/{sum('lora_B' in k for k in adapter)}")
    assert trained, "the adapter never trained (every lora_B is zero)"
    base: dict = {}
    for shard in sorted((run / "hf_model").glob("*.safetensors")):
        base.update(load_file(str(shard)))
    initial = load_file(str(e2e["model"] / "model.safetensors"))
    key = next(k for k in initial if k.endswith("layers.0.mlp.down_proj.weight"))
    base_key = next(k for k in base if k.endswith("layers.0.mlp.down_proj.weight"))
    assert torch.equal(base[base_key].float(), initial[key].float()), "LoRA changed the base weights"
    generations = (run / "test_generations.jsonl").read_text().splitlines()
    assert len(generations) == 4
    assert (run / "report" / "metrics.json").is_file() and (run / "report" / "summary.md").is_file()


@pytest.fixture
def two_nodes(e2e):
    """Two raylets on this host (``ray.cluster_utils.Cluster``), each with one CPU "device" advertised as a GPU; the
    trainer connects to it with ``trainer.nnodes=2``. The raylets inherit this process's environment, so the CPU
    platform's variables are set before they start. One cluster per test: while it runs, Ray's address file makes
    every ``ray.init()`` on this host join it, and a later single-host run (which passes ``num_cpus``) would fail."""
    from ray.cluster_utils import Cluster

    saved = dict(os.environ)
    os.environ.update(cpu_env())
    # logical CPUs: verl reserves 3 CPUs per GPU bundle beside the task runner and storage actors (docs/cpu.md)
    node = {"num_cpus": 8, "num_gpus": 1, "object_store_memory": 1 << 30}
    cluster = Cluster(initialize_head=True, head_node_args=node)
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        cluster.shutdown()
        os.environ.clear()
        os.environ.update(saved)


def _two_node_train(e2e: dict, cluster, name: str, *extra: str) -> Path:
    single_host = {"trainer.nnodes=1", "+ray_kwargs.ray_init.num_gpus=1", "ray_kwargs.ray_init.num_cpus=8"}
    return _train(
        e2e,
        name,
        "trainer.nnodes=2",
        f"+ray_kwargs.ray_init.address={cluster.address}",
        # the task runner's environment is the raylets', not this driver's: the file logger's path goes by runtime_env
        f"+ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH={e2e['root'] / name / 'metrics.jsonl'}",
        f"reward.custom_reward_function.path={SHAPED_REWARD}",
        "trainer.total_training_steps=2",
        "trainer.test_freq=-1",
        *extra,
        cpu_overrides=tuple(o for o in CPU_OVERRIDES if o not in single_host),
        # 8 trajectories split over 2 ranks: 4 per rank, so micro-batches that divide 4 (verl asserts divisibility).
        # 2, not 4: a log-prob micro-batch holds its fp32 logits, 151,936 vocabulary entries per token (~1.3 GB per
        # rank at 2 x 1,100 tokens); with 4 the two ranks' peaks (+5 GB) ran this 24 GB machine out of memory.
        small_run=tuple(o.replace("_per_gpu=8", "_per_gpu=2").replace("_per_gpu=4", "_per_gpu=2") for o in SMALL_RUN),
    )


def _too_little_memory_for_two_nodes() -> str | None:
    """Two FSDP ranks and two vLLM engines peak at about 17 GB (docs/cpu.md); Ray's memory monitor kills workers at
    95 % of the machine's memory. ``VERL_MED_E2E_TWO_NODES=0`` skips the run on purpose."""
    import psutil

    if os.environ.get("VERL_MED_E2E_TWO_NODES") == "0":
        return "VERL_MED_E2E_TWO_NODES=0"
    total = psutil.virtual_memory().total / 2**30
    return None if total >= 22 else f"two nodes peak at about 17 GB; this machine has {total:.1f} GiB"


def _two_node_first_run(e2e: dict, cluster) -> Path:
    """2 steps on two nodes with a checkpoint every step (reused when an earlier test of this module ran it)."""
    run = e2e["root"] / "two_nodes"
    if (run / "finished").is_file():
        return run
    return _two_node_train(e2e, cluster, "two_nodes", "trainer.save_freq=1")


@pytest.mark.skipif(_too_little_memory_for_two_nodes() is not None, reason=str(_too_little_memory_for_two_nodes()))
def test_two_nodes_train_and_checkpoint(e2e, two_nodes):
    """``trainer.nnodes=2`` on two raylets: one actor worker per node (Ray's actor table names two nodes), verl-med's
    packages shipped through ``runtime_env.py_modules``, ``MedSyncTrainer`` built by verl's task runner (the
    outcome log), a checkpoint with one shard per rank."""
    from ray.util.state import list_actors

    run = _two_node_first_run(e2e, two_nodes)
    assert sorted(metrics_by_step(run / "metrics.jsonl")) == [1, 2]
    # The packages travel in runtime_env.py_modules: the task runner prints the config it received (verl's
    # TaskRunner pprints it; Hydra's saved config predates prepare_for_ray, which adds them), and it imported
    # verl_med_plugin from Ray's unpacked copy, not from this checkout (both nodes could read the checkout here).
    log = (run / "train.log").read_text(encoding="utf-8", errors="replace")
    printed = re.search(r"'py_modules': \[([^\]]*)\]", log)
    assert printed is not None, "the task runner's config has no runtime_env.py_modules"
    # pprint may wrap a long list over lines that Ray prefixes with the actor and colour codes
    listed = re.sub(r"\x1b\[[0-9;]*m|\(TaskRunnerV1 pid=\d+\)|\s", "", printed.group(1))
    shipped = {Path(p.strip("'")).name for p in listed.split(",")}
    assert {"reward_fns", "verl_med_plugin", "data_preprocess"} <= shipped, shipped
    assert re.search(r"runtime_resources/py_modules_files/_ray_pkg_\w+/verl_med_plugin/", log), "not from Ray's copy"
    shards = sorted(p.name for p in (run / "ckpt" / "global_step_1" / "actor").glob("model_world_size_2_rank_*.pt"))
    assert shards == ["model_world_size_2_rank_0.pt", "model_world_size_2_rank_1.pt"]
    assert sorted(outcomes_by_step(run / "ckpt" / "med_sampler_outcomes.jsonl")) == [1, 2]
    if not REUSE_DIR:  # a kept run's actors lived in an earlier cluster
        workers = [
            a for a in list_actors(address=two_nodes.address, limit=1000, detail=True) if "WorkerDict" in a.class_name
        ]
        assert len({a.node_id for a in workers}) == 2, [(a.class_name, a.node_id) for a in workers]


@pytest.mark.skipif(_too_little_memory_for_two_nodes() is not None, reason=str(_too_little_memory_for_two_nodes()))
@pytest.mark.skipif(
    os.environ.get("VERL_MED_E2E_TWO_NODES_RESUME") != "1",
    reason="VERL_MED_E2E_TWO_NODES_RESUME=1 runs it: one more two-node verl start (~4-6 min), kept out of CI's hour",
)
def test_two_nodes_resume_from_the_two_shard_checkpoint(e2e, two_nodes):
    """A new two-node cluster resumes the first run's step-1 checkpoint (one shard per rank): it trains only step
    2 and draws the same sample indices as the uninterrupted run (the sampler state in verl's ``data.pt``)."""
    run = _two_node_first_run(e2e, two_nodes)
    resumed = _two_node_train(
        e2e,
        two_nodes,
        "two_nodes_resumed",
        "trainer.save_freq=-1",
        "trainer.resume_mode=resume_path",
        f"trainer.resume_from_path={run / 'ckpt' / 'global_step_1'}",
    )
    assert sorted(metrics_by_step(resumed / "metrics.jsonl")) == [2]
    first = outcomes_by_step(run / "ckpt" / "med_sampler_outcomes.jsonl")[2]
    again = outcomes_by_step(resumed / "ckpt" / "med_sampler_outcomes.jsonl")[2]
    assert sorted(again["sample_indices"]) == sorted(first["sample_indices"])


# ------------------------------------------------------------------------------------------------ the zoom tool
@pytest.fixture(scope="module")
def zoom_run(e2e, request) -> Path:
    """One GRPO step through verl's tool agent loop (``med/experiment=zoom``) from the zoom warm start
    (``fixtures_zoom``; memoised, so CI trains it once in the unit tier): the memorised trace's RL row twice, once
    under the tool agent loop and once under verl's single-turn loop (the ``agent_name`` column verl reads per
    row), so the tool-disabled control shares the step, the weights and the prompt. 8 samples per prompt."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verl_med_plugin import verl_compat

    shutil.rmtree(e2e["root"] / "zoom_warm", ignore_errors=True)  # a kept root (VERL_MED_E2E_DIR): built afresh
    warm = warm_start(e2e["root"] / "zoom_warm", warm_start_cache(request.config))
    table = pq.read_table(warm.rl_dir / "train.parquet")
    (row,) = [r for r in table.to_pylist() if r["images"][0]["bytes"] == warm.trace["images"][0]["bytes"]]
    agents = [verl_compat.TOOL_AGENT_LOOP, verl_compat.SINGLE_TURN_AGENT_LOOP]
    rows = [{**row, verl_compat.AGENT_NAME_FIELD: agent} for agent in agents]
    data = e2e["root"] / "zoom_data"
    (data / "busi_zoom").mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        pq.write_table(pa.Table.from_pylist(rows), data / "busi_zoom" / f"{split}.parquet")
    return _train(
        e2e,
        "zoom",
        "med/experiment=zoom",
        "med.template=qwen2_5_vl",
        "med.knowledge.mode=none",  # the prompt the warm start memorised
        f"actor_rollout_ref.rollout.multi_turn.tool_config_path={warm.tool_yaml}",
        *[f"+med.reward.{key}={value}" for key, value in REWARD_FRAME.items()],
        "data.max_response_length=256",
        "data.shuffle=false",
        "actor_rollout_ref.rollout.n=8",
        # The warm start memorised one trace, yet at T=1 its samples mix the trace's two turns (Hugging Face
        # sampling of the warm-started model, 8 samples: 1 of 8 parse as a call at T=1, 3 at 0.5, 5 at 0.3): at 0.3
        # the group holds calls and non-calls, so GRPO sees different rewards.
        "actor_rollout_ref.rollout.temperature=0.3",
        "trainer.total_training_steps=1",
        "trainer.save_freq=1",
        "trainer.test_freq=-1",
        "actor_rollout_ref.actor.optim.lr=1e-3",
        model=warm.model,
        data=(data, "busi_zoom"),
    )


def test_grpo_through_the_tool_agent_loop_carries_the_zoomed_image_into_training(zoom_run):
    """The tool agent loop ran the zoom calls of the warm-started policy, each crop reached the actor as a second
    image (``multi_modal_inputs``, read from the trainer's batch by ``med_trajectories.jsonl``), rewards differed
    within the group and the step updated the actor. The control: the same prompt under the single-turn loop
    (tool disabled) in the same step never carries a second image, whatever it wrote."""
    (record,) = read_jsonl(zoom_run / "ckpt" / "med_trajectories.jsonl")
    assert record["step"] == 1
    # Row 0 runs under the tool agent loop, row 1 under the single-turn loop (fixture order, data.shuffle=false).
    tool = [i for i, row in enumerate(record["sample_indices"]) if row == 0]
    control = [i for i, row in enumerate(record["sample_indices"]) if row == 1]
    assert len(tool) == len(control) == 8, record["sample_indices"]
    images = np.array(record["images"])
    turns = np.array(record["turns"])
    assert images[control].tolist() == [1] * 8  # the control: no tool, no second image
    assert images[tool].max() == 2, images[tool]  # a crop came back and reached the trainer
    assert set(images[tool].tolist()) <= {1, 2}  # max_calls=1: never a third image
    zoomed = [i for i in tool if images[i] == 2]
    assert turns[zoomed].min() > turns[control].max(), (turns[zoomed], turns[control])  # call + tool turn
    # GRPO got a signal from the tool group: its rewards differ, so its advantages are not all zero.
    scores, advantages = np.array(record["scores"]), np.array(record["advantages"])
    assert np.unique(scores[tool].round(6)).size > 1, scores
    assert np.abs(advantages[tool]).max() > 1e-4, advantages
    metrics = metrics_by_step(zoom_run / "metrics.jsonl")
    assert metrics[1]["med_tool/images_per_trajectory"] == pytest.approx(images.mean())
    from safetensors.torch import load_file

    initial = load_file(str(zoom_run.parent / "zoom_warm" / "model" / "model.safetensors"))
    shard = torch.load(
        zoom_run / "ckpt" / "global_step_1" / "actor" / "model_world_size_1_rank_0.pt",
        weights_only=False,
        map_location="cpu",
    )
    name = next(k for k in initial if k.endswith("layers.0.mlp.down_proj.weight"))
    trained = next(v for k, v in shard.items() if k.endswith("layers.0.mlp.down_proj.weight"))
    trained = trained.to_local() if hasattr(trained, "to_local") else trained
    assert not torch.equal(trained.float(), initial[name].float())  # the step updated the actor
