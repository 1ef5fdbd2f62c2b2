"""The report's PNG plots: confusion matrices, per-class recall, the runs compared, curves over steps, sparsity.

Plots use matplotlib's Agg backend (no display on training hosts); class names are wrapped and figures sized by
the number of classes, and saved with a tight bounding box, so long MedMNIST names stay whole and legible.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from verl_med_plugin.evaluation.figures import plt, save_figure
from verl_med_plugin.evaluation.records import Report, RunReport, report_datasets

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


def plot_comparison(report: Report, path: Path) -> Path:
    """One panel per dataset: accuracy, balanced accuracy, macro-F1 (and QWK) of every run side by side."""
    datasets = report_datasets(report)
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


def plot_curves(run: RunReport, path: Path) -> Path:
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


def plot_sparsity(runs: list[RunReport], path: Path) -> Path:
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


def write_plots(report: Report, out_dir: Path) -> dict[str, list[str]]:
    """Every plot; returns file names grouped by dataset (``""`` = run-level plots) for the summary."""
    images: dict[str, list[str]] = {}
    runs = report["runs"]
    for ds in report_datasets(report):
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
    if report_datasets(report):
        general.append(plot_comparison(report, out_dir / "comparison.png").name)
    general += [plot_curves(run, out_dir / f"curves_{_slug(run['name'])}.png").name for run in runs if "curves" in run]
    sparse = [run for run in runs if "rollout_sparsity" in run]
    if sparse:
        general.append(plot_sparsity(sparse, out_dir / "sparsity.png").name)
    images[""] = general
    return images
