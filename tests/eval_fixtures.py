"""Fixture runs for the evaluation tests: a prepared test parquet and generation dumps in verl 0.9.1's exact
format, written by verl's own writer (``PPOTrainer._write_generations``) with the arguments ``_validate`` /
``_log_rollout_data`` pass it, and rewards computed by ``reward_fns.compute_score`` as verl's reward loop would.

Hand-checked answers (``RETINA_STEP20``): 4 prompts x 2 samples, predicted grade per sample, -1 = no answer.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_data import RETINA_LABELS, RETINA_QUESTION, png_bytes, synthetic_images
from fixtures_data import VRFT_INSTRUCTION as INSTRUCTION  # the prompt's answer-format sentence (vrft template)

BLOOD_LABELS = ["basophil", "immature granulocytes (myelocytes, metamyelocytes and promyelocytes)", "neutrophil"]
BLOOD_QUESTION = "Which blood cell type is shown in this microscopy image?"
RETINA_TRUTH = [0, 1, 2, 4]
BLOOD_TRUTH = [0, 1, 2]
# step -> per prompt, the predicted label index of each sample (-1: a response without an answer)
RETINA_STEPS = {10: [[0, 0], [0, 0], [0, 0], [0, 0]], 20: [[0, 0], [2, 1], [4, -1], [3, 3]]}
BLOOD_STEPS = {10: [[2, 2], [2, 2], [2, 2]], 20: [[0, 0], [1, 2], [2, 2]]}


def response(labels: Sequence[str], index: int) -> str:
    if index < 0:
        return "The image is too blurry to tell."
    return f"<think>I look at the lesions in the image.</think><answer>{labels[index]}</answer>"


def prepared_rows() -> list[dict[str, Any]]:
    """Test rows of two datasets in the project's schema (retinamnist ordinal, bloodmnist multiclass)."""
    from data_preprocess.schema import make_extra_info, make_row

    images = synthetic_images(len(RETINA_TRUTH) + len(BLOOD_TRUTH), size=28)
    rows = []
    for dataset, task, labels, question, truth in (
        ("retinamnist", "ordinal", RETINA_LABELS, RETINA_QUESTION, RETINA_TRUTH),
        ("bloodmnist", "multiclass", BLOOD_LABELS, BLOOD_QUESTION, BLOOD_TRUTH),
    ):
        for i, label in enumerate(truth):
            info = make_extra_info(
                split="test",
                index=i,
                dataset=dataset,
                task_type=task,
                labels=labels,
                label_aliases=[[] for _ in labels],
                question=question,
                image_size=[28, 28],
            )
            rows.append(
                make_row(
                    dataset=dataset,
                    prompt_text="<image>\n" + question + INSTRUCTION,
                    image_bytes=[png_bytes(images[len(rows)])],
                    ground_truth=labels[label],
                    extra_info=info,
                )
            )
    return rows


def write_parquet(rows: list[dict[str, Any]], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from data_preprocess.schema import arrow_schema

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema()), path)
    return path


def decoded_prompt(row: dict[str, Any], tokenizer, processor) -> str:
    """The ``input`` verl dumps: chat template applied as the agent loop does, ids decoded without special tokens."""
    messages = []
    for message in row["prompt"]:
        parts = [
            {"type": "image"} if p == "<image>" else {"type": "text", "text": p}
            for p in re.split("(<image>)", message["content"])
            if p
        ]
        messages.append({"role": message["role"], "content": parts})
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer.decode(tokenizer.encode(text), skip_special_tokens=True)


def verl_write_generations(dump_dir: Path, step: int, inputs, outputs, gts, scores, reward_extra_infos_dict) -> Path:
    """verl 0.9.1's own JSONL writer (v1 trainer), called exactly as ``_dump_generations`` calls it."""
    with warnings.catch_warnings():  # verl lists the optional engines it cannot load (megatron, ...)
        warnings.simplefilter("ignore", UserWarning)
        from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    PPOTrainer._write_generations(inputs, outputs, gts, scores, reward_extra_infos_dict, str(dump_dir), step)
    return dump_dir / f"{step}.jsonl"


def write_validation_dumps(dump_dir: Path, rows, tokenizer, processor, reward_kwargs: dict | None = None) -> Path:
    """``trainer.validation_data_dir`` of a run validated at steps 10 and 20 with 2 samples per prompt."""
    import reward_fns

    plan = {"retinamnist": RETINA_STEPS, "bloodmnist": BLOOD_STEPS}
    for step in (10, 20):
        inputs, outputs, gts, scores, keys = [], [], [], [], []
        infos: dict[str, list] = {}
        for row_no, row in enumerate(rows):
            info = row["extra_info"]
            predictions = plan[info["dataset"]][step][info["index"]]
            for session, index in enumerate(predictions):
                text = response(info["labels"], index)
                result = reward_fns.compute_score(
                    data_source=row["data_source"],
                    solution_str=text,
                    ground_truth=row["reward_model"]["ground_truth"],
                    extra_info=info,
                    **(reward_kwargs or {}),
                )
                inputs.append(decoded_prompt(row, tokenizer, processor))
                outputs.append(text)
                gts.append(row["reward_model"]["ground_truth"])
                scores.append(result["score"])
                keys.append(f"uuid-{step}-{row_no:04d}_{session}_0")
                for key, value in result.items():
                    infos.setdefault(key, []).append(value)
        verl_write_generations(
            dump_dir, step, inputs, outputs, gts, scores, {"reward": list(scores), **infos} | {"uid": keys}
        )
    return dump_dir


def write_rollout_dump(dump_dir: Path, step: int, group_scores: Sequence[Sequence[float]]) -> Path:
    """``trainer.rollout_data_dir`` file of one step: one GRPO group per entry of ``group_scores``."""
    inputs, outputs, gts, scores, keys = [], [], [], [], []
    for g, group in enumerate(group_scores):
        for session, score in enumerate(group):
            inputs.append("user\n\nWhich grade?\nassistant\n")
            outputs.append(response(RETINA_LABELS, 0))
            gts.append(RETINA_LABELS[0])
            scores.append(float(score))
            keys.append(f"uuid-{step}-{g}_{session}_0")
    return verl_write_generations(dump_dir, step, inputs, outputs, gts, scores, {"uid": keys})


# The paper-table fixture: 3 ablation rows x 2 datasets x 2 seeds, validated at 3 steps, one greedy answer per prompt.
TABLE_ROWS = {"sft": (0.45, 0.55), "vrft": (0.45, 0.7), "vrft_aug": (0.45, 0.85)}  # accuracy at first / last step
TABLE_SEEDS = (1, 2)
TABLE_STEPS = (10, 20, 30)
TABLE_DATASETS = {"breastmnist": 40, "retinamnist": 50}  # prompts per test set


def table_response(labels: Sequence[str], answer: int, think: int) -> str:
    """A response whose think concludes ``think`` and whose answer is ``answer`` (-1: no answer block)."""
    reasoning = f"<think>The findings point to {labels[think]}.</think>"
    return reasoning + ("I cannot tell." if answer < 0 else f"<answer>{labels[answer]}</answer>")


def write_table_fixture(root: Path) -> dict[str, Path]:
    """Per run ``ROW@SEED``, a validation-dump-like directory ``<step>.jsonl`` of JSONL records that carry their
    extra_info (as offline generations do) and the reward's components, computed by ``reward_fns.compute_score``.

    Answers are drawn from a seeded generator: right with the row's accuracy at that step (rising linearly), else a
    wrong grade/class, 5 % without an answer; the think names a different class than the answer 10 % of the time.
    """
    import json

    import numpy as np

    import reward_fns
    from data_preprocess.knowledge import load_card

    runs = {}
    for row_no, (row, (start, end)) in enumerate(TABLE_ROWS.items()):
        for seed in TABLE_SEEDS:
            run_dir = root / f"{row}@{seed}"
            run_dir.mkdir(parents=True, exist_ok=True)
            for step_no, step in enumerate(TABLE_STEPS):
                p_right = start + (end - start) * step_no / (len(TABLE_STEPS) - 1)
                lines = []
                for ds_no, (dataset, n) in enumerate(TABLE_DATASETS.items()):
                    card = load_card(dataset)
                    labels = card.label_names
                    rng = np.random.default_rng([row_no, seed, step, ds_no])
                    truth = np.random.default_rng(ds_no).integers(0, len(labels), n)  # same test set for every run
                    for i in range(n):
                        t = int(truth[i])
                        u = rng.random()
                        answer = (
                            t
                            if u < p_right
                            else (-1 if u > 0.95 else int((t + rng.integers(1, len(labels))) % len(labels)))
                        )
                        think = answer if answer >= 0 and rng.random() > 0.1 else int(rng.integers(len(labels)))
                        info = card_test_info(card, dataset, i)
                        text = table_response(labels, answer, think)
                        scores = reward_fns.compute_score(
                            data_source=f"verl_med/{dataset}",
                            solution_str=text,
                            ground_truth=labels[t],
                            extra_info=info,
                        )
                        lines.append(
                            {
                                "prompt_id": f"{dataset}/test/{i}",
                                "input": card.question,
                                "output": text,
                                "gts": labels[t],
                                "data_source": f"verl_med/{dataset}",
                                "extra_info": info,
                                **{k: scores[k] for k in ("score", "acc", "format", "mfrs")},
                            }
                        )
                (run_dir / f"{step}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
            runs[f"{row}@{seed}"] = run_dir
    return runs


# --- medical VQA: two benchmarks, hand-checked answers ---------------------------------------------------
# SLAKE-like closed/open questions, one answer each: (question, ground truth, modality, question type, answer);
# answer None = a response without an answer block. Questions repeat across images, as in the benchmarks.
VQA_SLAKE = [
    ("Is this a CT image?", "yes", "CT", "Modality", "yes"),  # closed, right
    ("Is this a CT image?", "no", "MRI", "Modality", "yes"),  # closed, wrong
    ("Does the picture contain lung?", "yes", "X-Ray", "Organ", "Yes."),  # closed, right
    ("Which organ is abnormal?", "left lung", "X-Ray", "Abnormality", "the left lung"),  # open, exact
    ("What is the largest organ in the picture?", "liver", "CT", "Organ", "liver and spleen"),  # P 1/3, R 1, F1 .5
    ("Where is the lesion?", "right lower lobe", "CT", "Position", "lower lobe"),  # P 1, R 2/3, F1 .8
    ("What modality is used?", "MRI", "MRI", "Modality", None),  # open, no answer
]
# OmniMedVQA-like MCQ, two samples per question: (question, options, correct index, modality, question type,
# answers). A letter or the option text both name an option.
VQA_OMNI = [
    (
        "What imaging modality is shown?",
        ["CT", "MRI", "X-ray", "Ultrasound"],
        0,
        "CT(Computed Tomography)",
        "Modality Recognition",
        ["A", "CT"],
    ),  # both right
    (
        "Which organ is shown?",
        ["liver", "brain", "kidney", "heart"],
        1,
        "MR (Mag-netic Resonance Imaging)",
        "Anatomy Identification",
        ["A", "brain"],
    ),  # wrong, right
    (
        "What is the diagnosis?",
        ["pneumonia", "normal", "tuberculosis"],
        1,
        "CT(Computed Tomography)",
        "Disease Diagnosis",
        ["C", None],
    ),  # wrong, no answer
]


def vqa_response(answer: str | None) -> str:
    if answer is None:
        return "<think>The image is unclear.</think> I cannot tell."
    return f"<think>I look at the image.</think><answer>{answer}</answer>"


def vqa_rows() -> list[dict[str, Any]]:
    """Prepared test rows of the two VQA benchmarks in the row contract (docs/vqa.md)."""
    from data_preprocess.modality_knowledge import modality_knowledge
    from data_preprocess.schema import make_extra_info, make_row

    images = synthetic_images(len(VQA_SLAKE) + len(VQA_OMNI), size=28)
    rows = []
    for i, (question, truth, modality, qtype, _) in enumerate(VQA_SLAKE):
        closed = truth in ("yes", "no")
        info = make_extra_info(
            split="test",
            index=i,
            dataset="slake",
            task_type="closed" if closed else "open",
            labels=["yes", "no"] if closed else [],
            question=question,
            knowledge=modality_knowledge(modality)[1],
            image_size=[28, 28],
            modality=modality,
            question_type=qtype,
            answer=truth,
        )
        rows.append(
            make_row(
                dataset="slake",
                prompt_text="<image>" + question + INSTRUCTION,
                image_bytes=[png_bytes(images[len(rows)])],
                ground_truth=truth,
                extra_info=info,
            )
        )
    for i, (question, options, correct, modality, qtype, _) in enumerate(VQA_OMNI):
        info = make_extra_info(
            split="test",
            index=i,
            dataset="omnimedvqa",
            task_type="mcq",
            labels=options,
            options=options,
            option_style="letter",
            question=question,
            knowledge=modality_knowledge(modality)[1],
            image_size=[28, 28],
            modality=modality,
            question_type=qtype,
            answer="ABCD"[correct],
        )
        shown = "\n".join([question, "Options:", *(f"{'ABCD'[k]}. {o}" for k, o in enumerate(options))])
        rows.append(
            make_row(
                dataset="omnimedvqa",
                prompt_text="<image>" + shown + INSTRUCTION,
                image_bytes=[png_bytes(images[len(rows)])],
                ground_truth=options[correct],
                extra_info=info,
            )
        )
    return rows


def _vqa_answers(row: dict[str, Any]) -> list[str | None]:
    info = row["extra_info"]
    if info["dataset"] == "slake":
        return [VQA_SLAKE[info["index"]][4]]
    return VQA_OMNI[info["index"]][5]


def write_vqa_generations(path: Path, rows: list[dict[str, Any]]) -> Path:
    """An offline-generation JSONL (``verl-med-generate``'s fields: prompt_id, extra_info) of the VQA rows."""
    import json

    lines = []
    for row in rows:
        info = row["extra_info"]
        for answer in _vqa_answers(row):
            lines.append(
                {
                    "prompt_id": f"{info['dataset']}/test/{info['index']}",
                    "input": info["question"],
                    "output": vqa_response(answer),
                    "gts": row["reward_model"]["ground_truth"],
                    "data_source": row["data_source"],
                    "extra_info": info,
                }
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def write_vqa_validation_dump(dump_dir: Path, rows: list[dict[str, Any]], step: int = 5) -> Path:
    """``trainer.validation_data_dir`` of a run validated on the VQA rows, by verl's own writer: no extra_info,
    random prompt uuids, the decoded prompt as ``input`` (joined back with ``--data``)."""
    inputs, outputs, gts, keys = [], [], [], []
    for row_no, row in enumerate(rows):
        for session, answer in enumerate(_vqa_answers(row)):
            inputs.append(
                "system\nYou are a helpful assistant.\nuser\n"
                + row["prompt"][-1]["content"].replace("<image>", "")
                + "\nassistant\n"
            )
            outputs.append(vqa_response(answer))
            gts.append(row["reward_model"]["ground_truth"])
            keys.append(f"uuid-{row_no:04d}_{session}_0")
    scores = [0.0] * len(outputs)
    return verl_write_generations(dump_dir, step, inputs, outputs, gts, scores, {"reward": scores, "uid": keys})


def card_test_info(card, dataset: str, index: int) -> dict:
    """``extra_info`` of test row ``index`` of a MedMNIST dataset, from its knowledge card (labels, aliases,
    question): what the fixture dumps grade against."""
    from data_preprocess.knowledge import label_aliases
    from data_preprocess.schema import make_extra_info

    return make_extra_info(
        split="test",
        index=index,
        dataset=dataset,
        task_type=card.task_type,
        labels=card.label_names,
        label_aliases=label_aliases(card),
        question=card.question,
        image_size=[28, 28],
    )


# --- what a figure shows -----------------------------------------------------------------------------------------


@dataclass
class Panel:
    """The data one matplotlib Axes draws: judged by these numbers, not by the PNG's size."""

    title: str
    bars: list[list[float]]  # per bar container (one per ax.bar / ax.barh call), its heights or widths
    lines: dict[str, tuple[list[float], list[float]]]  # label -> (x, y)
    images: list[np.ndarray]  # per ax.imshow, its array
    texts: list[str]


def panels(fig) -> list[Panel]:
    """The visible panels of ``fig``, read through matplotlib's public Axes API."""
    from matplotlib.container import BarContainer

    return [
        Panel(
            title=ax.get_title(),
            bars=[[float(v) for v in c.datavalues] for c in ax.containers if isinstance(c, BarContainer)],
            lines={
                str(line.get_label()): ([float(x) for x in line.get_xdata()], [float(y) for y in line.get_ydata()])
                for line in ax.get_lines()
                if not str(line.get_label()).startswith("_")
            },
            images=[np.asarray(image.get_array()) for image in ax.get_images()],
            texts=[t.get_text() for t in ax.texts],
        )
        for ax in fig.axes
        if ax.get_visible() and ax.get_label() != "<colorbar>"
    ]


@contextmanager
def captured_figures() -> Iterator[dict[str, list[Panel]]]:
    """Every figure saved while inside, by file name, as the panels it shows (``Figure.savefig`` wrapped)."""
    from matplotlib.figure import Figure

    shown: dict[str, list[Panel]] = {}
    original = Figure.savefig

    def savefig(fig, fname, *args, **kwargs):
        # the report writes to a temporary name beside the target (atomic): keep the target's name
        shown[Path(fname).name.lstrip(".").split(".png")[0] + ".png"] = panels(fig)
        return original(fig, fname, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", savefig)
        yield shown


def single_label_outcomes(truth, predicted, task_type="multiclass", n_classes=None, ids=None):
    """Single-label ``statistics.Outcomes`` with each sample's correctness derived from its answer."""
    from verl_med_plugin.evaluation.statistics import Outcomes

    truth = [int(t) for t in truth]
    predicted = [[int(p) for p in preds] for preds in predicted]
    n = n_classes or max(truth + [p for preds in predicted for p in preds]) + 1
    return Outcomes(
        task_type,
        n,
        ids or [f"p{i}" for i in range(len(truth))],
        truth,
        predicted,
        [[p == t for p in preds] for t, preds in zip(truth, predicted, strict=True)],
    )
