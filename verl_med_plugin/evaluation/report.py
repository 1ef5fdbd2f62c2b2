"""The evaluation report: ``metrics.json``, ``summary.md`` (tables runs x metrics, as in the paper) and PNG plots.

Plots use matplotlib's Agg backend (no display on training hosts); class names are wrapped and figures sized by
the number of classes, and saved with a tight bounding box, so long MedMNIST names stay whole and legible.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from data_preprocess.atomic import write_text_atomic
from reward_fns.task_type import TaskType
from verl_med_plugin.evaluation.dumps import KEPT_KINDS
from verl_med_plugin.evaluation.figures import DPI, plt, save_figure
from verl_med_plugin.evaluation.table import markdown_table, write_table
from verl_med_plugin.evaluation.tools import tool_use_lines

__all__ = ["DPI", "json_safe", "markdown_summary", "plt", "save_figure", "write_plots", "write_report"]
WRAP = 22  # characters per line of a class name on an axis
# curve series the reward also dumps under its own name (same numbers from the same parser)
DUPLICATES = {"accuracy": "acc", "format_compliance": "format"}
MARKERS = ("o", "s", "^", "D", "v", "P")
DASHES = ("-", "--", "-.", ":")  # "-" is kept for score
COMPARED = (
    ("accuracy", "acc"),
    ("balanced_accuracy", "bal. acc"),
    ("macro_f1", "macro-F1"),
    ("qwk", "QWK"),
    ("mean_iou", "mean IoU"),
    ("mcq_accuracy", "MCQ acc"),
    ("closed_accuracy", "closed acc"),
    ("open_recall", "open recall"),
)


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "run"


def _wrap(name: str) -> str:
    return "\n".join(textwrap.wrap(name, WRAP)) or name


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _num(digits: int) -> Callable[[float | None], str]:
    return lambda value: "–" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _datasets(report: dict) -> list[str]:
    return sorted({ds for run in report["runs"] for ds in run.get("datasets", {})})


# Per-dataset table columns: (metrics key, header, format); a column appears when some run has the metric.
# "*": invalid answers counted as the farthest grade (runs with different invalid rates compare).
# Medical VQA: the benchmarks' own figures (``metrics.VQA_METRICS``), in %.
VQA_HEADERS = (
    ("mcq_accuracy", "MCQ acc"),
    ("closed_accuracy", "closed acc"),
    ("open_exact", "open EM"),
    ("open_recall", "open recall"),
    ("open_f1", "open F1"),
)
VQA_BREAKDOWNS = (("by_modality", "modality"), ("by_question_type", "question type"))
# (metrics key, column header, cell formatter)
METRIC_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("n_samples", "n", str),
    ("n_prompts", "prompts", lambda v: "–" if v is None else str(v)),
    ("accuracy", "acc", _pct),
    ("balanced_accuracy", "bal. acc", _pct),
    ("macro_f1", "macro-F1", _pct),
    ("auroc", "AUROC", _num(3)),
    ("n_graded", "graded", str),
    ("qwk", "QWK", _num(3)),
    ("mae", "MAE", _num(2)),
    ("qwk_invalid_farthest", "QWK*", _num(3)),
    ("mae_invalid_farthest", "MAE*", _num(2)),
    ("hamming_loss", "Hamming", _num(3)),
    ("mean_iou", "mean IoU", _num(3)),
    ("lesion_hit_rate", "lesion hit", _pct),
    ("lesion_mean_iou", "lesion IoU", _num(3)),
    *((key, header, _pct) for key, header in VQA_HEADERS),
    ("format_compliance", "format", _pct),
    ("invalid_rate", "invalid", _pct),
)
SAMPLING_COLUMNS = (("mean@k", "mean@k"), ("best@k", "best@k"), ("chance@k", "chance@k"), ("maj@k", "maj@k"))
CI_COLUMNS = (
    ("accuracy", "acc", _pct),
    ("balanced_accuracy", "bal. acc", _pct),
    ("macro_f1", "macro-F1", _pct),
    ("qwk", "QWK", _num(3)),
    ("auroc", "AUROC", _num(3)),
    *((key, header, _pct) for key, header in VQA_HEADERS),
)
CLINICAL_COLUMNS = (("sensitivity", "sensitivity"), ("specificity", "specificity"), ("ppv", "PPV"), ("npv", "NPV"))


def ci_text(metrics: dict, key: str, fmt: Callable[[float | None], str] = _pct) -> str:
    """``"37.5 [12.5, 62.5]"``: the estimate and its bootstrap interval (estimate alone when there is none)."""
    ci = (metrics.get("ci") or {}).get(key)
    value = fmt(metrics.get(key))
    return value if not ci else f"{value} [{fmt(ci['low'])}, {fmt(ci['high'])}]"


def _dataset_table(present: list[tuple[dict, dict]]) -> list[str]:
    """Rows = runs; metric columns of this task, then k and the per-prompt metrics."""
    columns = [c for c in METRIC_COLUMNS if any(m.get(c[0]) is not None for _, m in present)]
    sampled = [c for c in SAMPLING_COLUMNS if any(c[0] in m.get("sampling", {}) for _, m in present)] or [
        c for c in SAMPLING_COLUMNS if c[0] != "chance@k"
    ]
    rows = []
    for run, m in present:
        sampling = m.get("sampling", {})
        k = sampling.get("k", 1 if m.get("n_prompts") else "–")  # "–": prompts unknown (no prompt ids)
        rows.append(
            [
                run["name"],
                *(fmt(m.get(key)) for key, _, fmt in columns),
                str(k),
                *(_pct(sampling.get(key)) for key, _ in sampled),
            ]
        )
    return _table(["run", *(header for _, header, _ in columns), "k", *(h for _, h in sampled)], rows)


def _ci_table(present: list[tuple[dict, dict]]) -> list[str]:
    columns = [c for c in CI_COLUMNS if any((m.get("ci") or {}).get(c[0]) for _, m in present)]
    if not columns:
        return []
    unit = next((m.get("ci_unit") for _, m in present if m.get("ci_unit")), "prompt")
    methods = sorted({ci["method"] for _, m in present for ci in (m.get("ci") or {}).values() if ci})
    title = f"95 % bootstrap confidence intervals ({' / '.join(methods)}, resampling {unit}s): [ ] = 95 % CI over "
    title += f"test {unit}s of this one run (no seed spread: ± sd over seeds is in the rows table)."
    return ["", title, ""] + _table(
        ["run", *(h for _, h, _ in columns)],
        [[run["name"], *(ci_text(m, key, fmt) for key, _, fmt in columns)] for run, m in present],
    )


def _vqa_breakdown(present: list[tuple[dict, dict]], key: str, what: str) -> list[str]:
    """Rows = (group, run): a VQA dataset's figures per modality or question type, with their bootstrap CIs."""
    groups = sorted({g for _, m in present for g in m.get(key, {})})
    if not groups:
        return []
    columns = [
        (k, h)
        for k, h in (("accuracy", "acc"), *VQA_HEADERS)
        if any(m[key][g].get(k) is not None for _, m in present for g in m.get(key, {}))
    ]
    rows = [
        [g, run["name"], str(m[key][g]["n_samples"]), *(ci_text(m[key][g], k) for k, _ in columns)]
        for g in groups
        for run, m in present
        if g in m.get(key, {})
    ]
    return ["", f"Per {what} (as the benchmark names it; 95 % bootstrap CIs over its prompts):", ""] + _table(
        [what, "run", "n", *(h for _, h in columns)], rows
    )


def _clinical_table(present: list[tuple[dict, dict]]) -> list[str]:
    rows = [
        [
            run["name"],
            " / ".join(m["positive_class"]["labels"]),
            *(_pct(m["positive_class"][key]) for key, _ in CLINICAL_COLUMNS),
            (
                f"{m['positive_class']['tp']} / {m['positive_class']['fn']} / {m['positive_class']['fp']} / "
                f"{m['positive_class']['tn']}"
            ),
        ]
        for run, m in present
        if "positive_class" in m
    ]
    if not rows:
        return []
    return [
        "",
        (
            "Clinically positive class (from the knowledge card or --positive); invalid answers are errors for "
            "sensitivity and specificity and no call for PPV/NPV:"
        ),
        "",
    ] + _table(["run", "positive", *(h for _, h in CLINICAL_COLUMNS), "TP / FN / FP / TN"], rows)


def _consistency_lines(present: list[tuple[dict, dict]]) -> list[str]:
    rows = [
        [run["name"], str(m["think_answer"]["n"]), _pct(m["think_answer"]["inconsistent"])]
        for run, m in present
        if m.get("think_answer", {}).get("n")
    ]
    if not rows:
        return []
    return [
        "",
        (
            "Think/answer consistency: share of responses whose think names last a different class than the "
            "answer (over responses with a valid answer and a class named in the think):"
        ),
        "",
    ] + _table(["run", "responses", "think ≠ answer"], rows)


def _diff(differences: dict, key: str, fmt: Callable[[float | None], str]) -> str:
    if key not in differences:
        return "–"
    ci = differences[key]["ci"]
    text = fmt(differences[key]["difference"])
    return text if not ci else f"{text} [{fmt(ci['low'])}, {fmt(ci['high'])}]"


def comparison_table(comparisons: list[dict]) -> list[str]:
    """Paired comparisons: differences with paired-bootstrap CIs and McNemar's exact p-value."""
    rows = []
    for c in comparisons:
        if "error" in c:
            rows.append([c["dataset"], f"{c['run']} − {c['baseline']}", str(c["n_prompts"]), c["error"], "", "", ""])
            continue
        d = c["differences"]
        mc = c["mcnemar"]
        rows.append(
            [
                c["dataset"],
                f"{c['run']} − {c['baseline']}",
                str(c["n_prompts"]),
                _diff(d, "accuracy", _pct),
                _diff(d, "balanced_accuracy", _pct),
                _diff(d, "auroc", _num(3)),
                f"{mc['a_only']} / {mc['b_only']}, p = {mc['p_value']:.3g}"
                + (f", Holm p = {mc['p_holm']:.3g}" if "p_holm" in mc else ""),
            ]
        )
    return _table(
        ["dataset", "runs", "prompts", "Δ acc [95 % CI]", "Δ bal. acc", "Δ AUROC", "McNemar: only A / only B right"],
        rows,
    )


def markdown_summary(report: dict, images: dict[str, list[str]]) -> str:
    """The summary page: overview, one table per dataset (rows = runs), per-class recall, sparsity, warnings."""
    runs = report["runs"]
    datasets = _datasets(report)
    out = [
        "# verl-med evaluation",
        "",
        (
            f"Answers parsed with `{report['parser']}`, the training reward's parser, called with each run's reward "
            "kwargs. Rates in %; `n` = samples each metric covers."
        ),
        "",
    ]
    out += _table(
        ["run", "source", "step", "reward kwargs", "skipped records"],
        [
            [
                r["name"],
                "<br>".join(f"`{s}`" for s in r["sources"]),
                "–" if r.get("step") is None else str(r["step"]),
                f"`{json.dumps(r['reward_kwargs'], sort_keys=True)}`",
                str(sum(p["count"] for kind, p in r["problems"].items() if kind not in KEPT_KINDS)),
            ]
            for r in runs
        ],
    )
    if datasets:
        out += ["", "## Accuracy per dataset", ""]
        rows = []
        for run in runs:
            accs = [run.get("datasets", {}).get(ds, {}).get("accuracy") for ds in datasets]
            known = [a for a in accs if a is not None]
            rows.append([run["name"], *map(_pct, accs), _pct(float(np.mean(known)) if known else None)])
        out += _table(["run", *datasets, "mean"], rows)
    for ds in datasets:
        present = [(run, run["datasets"][ds]) for run in runs if ds in run.get("datasets", {})]
        first = present[0][1]
        classes = f", {len(first['labels'])} classes" if first["labels"] else ""
        classes += f": {' / '.join(first['task_types'])}" if first.get("task_types") else ""
        out += ["", f"## {ds} ({first['task_type']}{classes})", ""]
        out += _dataset_table(present)
        out += _ci_table(present) + _clinical_table(present) + _consistency_lines(present) + tool_use_lines(present)
        if first["task_type"] == "vqa":
            out += [
                "",
                (
                    "acc: MCQ and closed answers right and open answers exactly right (normalised text); open "
                    "recall / F1: token overlap with the reference (`reward_fns.vqa.open_scores`), means over "
                    "the open answers."
                ),
            ]
            for key, what in VQA_BREAKDOWNS:
                out += _vqa_breakdown(present, key, what)
        if first["task_type"] == TaskType.ORDINAL:
            out += [
                "",
                (
                    "QWK/MAE over valid answers (`graded` of `n`); QWK\\*/MAE\\*: every answer, an invalid one "
                    "counted as the grade farthest from the truth."
                ),
            ]
        if first["task_type"] == TaskType.GROUNDING:
            out += [
                "",
                (
                    "Lesion hit / IoU: images with at least one true box only (an empty answer on a normal image "
                    "scores IoU 1 but finds no lesion). With `iou_type: giou` the IoU column is the reward's "
                    "(GIoU + 1) / 2, which is 0.5 for disjoint boxes that touch, not an overlap."
                ),
            ]
        if any("chance@k" in m.get("sampling", {}) for _, m in present):
            out += ["", "chance@k: best@k of a uniform random guesser, 1 − (1 − 1/C)^k."]
        if "per_class" in first:
            out += ["", "Per-class recall / precision (%); support per run when runs differ in samples per prompt:", ""]
            header = ["class", "support"] + [f"{run['name']} R / P" for run, _ in present]
            rows = []
            for i, name in enumerate(first["labels"]):
                supports = list(dict.fromkeys(str(m["per_class"][i]["support"]) for _, m in present))
                rows.append(
                    [name, " / ".join(supports)]  # one number, or one per run when k differs
                    + [
                        f"{_pct(m['per_class'][i]['recall'])} / {_pct(m['per_class'][i]['precision'])}"
                        for _, m in present
                    ]
                )
            out += _table(header, rows)
        for run, m in present:
            agreement = m.get("parser_agreement")
            if agreement and agreement["agree"] < 1:
                out += [
                    "",
                    (
                        f"**{run['name']}**: the `pred` the training reward dumped differs from this parser's "
                        f"for {_pct(1 - agreement['agree'])}% of {agreement['n']} samples: different reward "
                        "kwargs or code version."
                    ),
                ]
        out += [""] + [f"![{Path(img).stem}]({img})" for img in images.get(ds, [])]
    rows = []
    for run in runs:
        sources = [
            (f"validation {ds}", m["zero_advantage"])
            for ds, m in sorted(run.get("datasets", {}).items())
            if "zero_advantage" in m
        ]
        if "rollout_sparsity" in run:
            sources.append(("rollouts", run["rollout_sparsity"]["overall"]))
        for where, per_key in sources:
            for key, stats in per_key.items():
                values = ", ".join(f"{v}: {c}" for v, c in stats["equal_value_counts"].items()) or "–"
                rows.append(
                    [run["name"], where, key, str(stats["n_groups"]), _pct(stats["fraction_zero_advantage"]), values]
                )
    if rows:
        out += [
            "",
            "## Reward sparsity",
            "",
            (
                "Share of GRPO groups (samples of one prompt) whose rewards are all equal: zero advantage, no "
                "gradient. `score` is the run's reward, `acc` the binary accuracy reward of the same answers; "
                "last column: the common reward of those groups (0 = all wrong)."
            ),
            "",
        ]
        out += _table(["run", "groups from", "reward", "groups", "all equal", "all-equal groups by reward"], rows)
    if report.get("comparisons"):
        out += [
            "",
            "## Paired comparisons",
            "",
            (
                "Run minus baseline on the prompts both answered: difference with a 95 % paired-bootstrap CI (the "
                "same prompt resample for both runs) and McNemar's exact test on per-prompt correctness (majority "
                "vote when k > 1, ties fixed per prompt id, as maj@k). Multiple comparisons: beside each raw p-value, "
                "the Holm-adjusted one over every McNemar test of this report (statsmodels `multipletests`, "
                "family-wise error 5 %); the CIs are unadjusted 95 % intervals."
            ),
            "",
        ]
        out += comparison_table(report["comparisons"])
    if report.get("table_markdown"):
        out += ["", "## Rows across datasets and seeds", "", report["table_markdown"].rstrip()]
    out += [""] + [f"![{Path(img).stem}]({img})" for img in images.get("", [])]
    problems = [(r["name"], kind, info) for r in runs for kind, info in r["problems"].items()]
    if problems:
        out += ["", "## Skipped records", ""]
        out += [f"- {name}: {info['count']} × `{kind}`, e.g. {info['examples'][0]}" for name, kind, info in problems]
    return "\n".join(out) + "\n"


def plot_confusion(metrics: dict, title: str, path: Path) -> Path:
    """Counts, coloured by row share (recall per true class); the last column counts invalid answers."""
    counts = np.asarray(metrics["confusion_matrix"], dtype=float)
    labels = [_wrap(name) for name in metrics["labels"]]
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = 2.5 + 0.75 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(counts):
        ax.text(
            j, i, f"{value:.0f}", ha="center", va="center", fontsize=9, color="white" if share[i, j] > 0.6 else "black"
        )
    # x: one line per name (rotated multi-line labels collide); the full name is on the same row's y label
    short = [textwrap.shorten(name, WRAP, placeholder="…") for name in metrics["labels"]]
    ax.set_xticks(range(len(labels) + 1), short + ["invalid"], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    return save_figure(fig, path)


def plot_per_class_recall(per_run: list[tuple[str, dict]], title: str, path: Path) -> Path:
    """Horizontal bars (long class names read on the y axis), one bar per run and class."""
    labels = [_wrap(name) for name in per_run[0][1]["labels"]]
    n_runs = len(per_run)
    height = 0.8 / n_runs
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(labels) * max(n_runs, 2)))
    y = np.arange(len(labels))
    for k, (name, metrics) in enumerate(per_run):
        recall = [np.nan if c["recall"] is None else c["recall"] for c in metrics["per_class"]]
        positions = y + (k - (n_runs - 1) / 2) * height
        ax.barh(positions, recall, height=height, label=name)
        # a value by every bar: a recall of 0 and a class without samples must not both look empty
        for pos, value in zip(positions, recall, strict=True):
            text = "no samples" if np.isnan(value) else f"{value:.2f}"
            ax.text(0.01 if np.isnan(value) else value + 0.01, pos, text, va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first class on top; explicit, since empty (NaN) bars set no limits
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("recall")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return save_figure(fig, path)


def plot_comparison(report: dict, path: Path) -> Path:
    """One panel per dataset: accuracy, balanced accuracy, macro-F1 (and QWK) of every run side by side."""
    datasets = _datasets(report)
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets) + 1.5, 3.8), squeeze=False)
    runs = report["runs"]
    for ax, ds in zip(axes[0], datasets, strict=True):
        keys = [
            (k, label)
            for k, label in COMPARED
            if any(run.get("datasets", {}).get(ds, {}).get(k) is not None for run in runs)
        ]
        width = 0.8 / len(runs)
        x = np.arange(len(keys))
        for i, run in enumerate(runs):
            metrics = run.get("datasets", {}).get(ds, {})
            values = [np.nan if metrics.get(k) is None else metrics[k] for k, _ in keys]
            ax.bar(x + (i - (len(runs) - 1) / 2) * width, values, width=width, label=run["name"])
        ax.set_xticks(x, [label for _, label in keys])
        values = [run.get("datasets", {}).get(ds, {}).get(k) for run in runs for k, _ in keys]
        ax.set_ylim(min([0.0] + [v for v in values if v is not None]), 1.0)  # kappa can be negative
        ax.set_title(ds)
        ax.grid(axis="y", alpha=0.3)
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return save_figure(fig, path)


def plot_curves(run: dict, path: Path) -> Path:
    """Per dataset, the mean of each reward component (and parser accuracy/format) over validation steps.

    One style per series across panels; the run's reward (``score``) is the thick solid line.
    """
    curves = run["curves"]
    shown = {
        ds: [
            k
            for k, values in curve.items()
            if k != "step"
            and DUPLICATES.get(k) not in curve  # the reward's acc/format equal the parser's
            and any(values)
        ]  # all zero: a reward component this run does not use
        for ds, curve in curves.items()
    }
    keys = sorted({k for ks in shown.values() for k in ks}, key=lambda k: (k != "score", k))
    styles = {
        k: {
            "color": f"C{i % 10}",
            "marker": MARKERS[i % len(MARKERS)],
            "markersize": 5,
            "linestyle": "-" if k == "score" else DASHES[1 + i % (len(DASHES) - 1)],
            "linewidth": 2.5 if k == "score" else 1.5,
        }  # dash and marker differ: overlaps stay visible
        for i, k in enumerate(keys)
    }
    fig, axes = plt.subplots(1, len(curves), figsize=(7 * len(curves), 3.6), squeeze=False, layout="constrained")
    for ax, (ds, curve) in zip(axes[0], sorted(curves.items()), strict=True):
        for key in shown[ds]:
            ax.plot(curve["step"], curve[key], label=key, **styles[key])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("step")
        ax.set_ylabel("mean over validation samples")
        ax.set_title(f"{run['name']}: {ds}")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return save_figure(fig, path)


def plot_sparsity(runs: list[dict], path: Path) -> Path:
    """Share of all-equal (zero-advantage) GRPO groups of the training reward per step, one line per run."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for run in runs:
        by_step = run["rollout_sparsity"]["by_step"]
        ax.plot(by_step["step"], by_step["score"], marker="o", markersize=3, label=run["name"])
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_ylabel("groups with all-equal reward")
    ax.set_title("Reward sparsity: zero-advantage GRPO groups")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return save_figure(fig, path)


def write_plots(report: dict, out_dir: Path) -> dict[str, list[str]]:
    """Every plot; returns file names grouped by dataset (``""`` = run-level plots) for the summary."""
    images: dict[str, list[str]] = {}
    runs = report["runs"]
    for ds in _datasets(report):
        present = [(run["name"], run["datasets"][ds]) for run in runs if ds in run.get("datasets", {})]
        names = []
        for run_name, metrics in present:
            if "confusion_matrix" in metrics:
                names.append(
                    plot_confusion(
                        metrics, f"{run_name}: {ds}", out_dir / f"confusion_{_slug(run_name)}_{_slug(ds)}.png"
                    ).name
                )
        if "per_class" in present[0][1]:
            path = out_dir / f"recall_{_slug(ds)}.png"
            names.append(plot_per_class_recall(present, f"{ds}: per-class recall", path).name)
        images[ds] = names
    general = []
    if _datasets(report):
        general.append(plot_comparison(report, out_dir / "comparison.png").name)
    general += [plot_curves(run, out_dir / f"curves_{_slug(run['name'])}.png").name for run in runs if "curves" in run]
    sparse = [run for run in runs if "rollout_sparsity" in run]
    if sparse:
        general.append(plot_sparsity(sparse, out_dir / "sparsity.png").name)
    images[""] = general
    return images


def json_safe(value: Any) -> tuple[Any, int]:
    """``value`` with every NaN/infinite float replaced by None (JSON has no such numbers: ``json.dumps`` would write
    ``NaN``, which strict readers refuse), and how many were replaced."""
    if isinstance(value, float):
        return (value, 0) if math.isfinite(value) else (None, 1)
    if isinstance(value, dict):
        items = [(k, *json_safe(v)) for k, v in value.items()]
        return {k: v for k, v, _ in items}, sum(n for _, _, n in items)
    if isinstance(value, (list, tuple)):
        converted = [json_safe(v) for v in value]
        return [v for v, _ in converted], sum(n for _, n in converted)
    return value, 0


def write_report(report: dict, out_dir: Path) -> list[Path]:
    """``metrics.json``, ``summary.md`` and the PNGs in ``out_dir``; returns the written paths. NaN/infinite values
    are written as null; their count is ``non_finite_values`` in ``metrics.json`` (and set in ``report``).

    Every file is written into a hidden staging folder inside ``out_dir`` and moved in only when all are written:
    a full or read-only disk raises its ``OSError`` with no new report file in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report.", dir=out_dir))
    try:
        names = _write_report_files(report, staging)
        for name in names:  # renames within one folder: no space needed, nothing left half-written
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    final = [out_dir / name for name in names]
    return final


def _write_report_files(report: dict, out_dir: Path) -> list[str]:
    """The report's files in ``out_dir`` (see ``write_report``); their names, metrics and summary first."""
    original = report
    images = write_plots(report, out_dir)
    tables: list[Path] = []
    if sum(bool(run.get("datasets")) for run in report["runs"]) >= 2:  # rows (and seeds) side by side
        boot = report.get("bootstrap") or {}
        table, tables = write_table(report["runs"], out_dir, boot.get("n_resamples", 1000), boot.get("seed", 0))
        report = {**report, "table": {k: v for k, v in table.items()}}
        images[""] = images.get("", []) + [p.name for p in tables if p.suffix == ".png"]
    safe, non_finite = json_safe(report)
    original["non_finite_values"] = safe["non_finite_values"] = non_finite
    write_text_atomic(out_dir / "metrics.json", json.dumps(safe, indent=2, default=str, allow_nan=False) + "\n")
    summary_report = {**report, "table_markdown": markdown_table(report["table"])} if tables else report
    write_text_atomic(out_dir / "summary.md", markdown_summary(summary_report, images))
    names = ["metrics.json", "summary.md"] + [name for group in images.values() for name in group]
    return names + [p.name for p in tables if p.suffix != ".png"]
