"""The paper's ablation table across rows, datasets and seeds, and the training curves of every row.

Runs named ``ROW@SEED`` are seeds of one row. A cell is the test accuracy with its 95 % bootstrap CI (one seed) or
mean ± sample standard deviation across seeds (several); the ``mean`` column averages the datasets (per seed, then
across seeds); the best row of each column is bold. Written as Markdown, LaTeX (booktabs) and a PNG, from the
runs of one evaluation or from the ``metrics.json`` files of several (``verl-med-eval --table``).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_preprocess.atomic import write_text_atomic
from verl_med_plugin.evaluation.dumps import EvalDataError
from verl_med_plugin.evaluation.figures import plt, save_figure
from verl_med_plugin.evaluation.records import RunReport
from verl_med_plugin.evaluation.statistics import (
    N_RESAMPLES,
    Outcomes,
    bootstrap_ci,
    mean_sd,
    row_and_seed,
)

METRIC = "accuracy"
MEAN = "mean"
# Under every rendering of the table (Markdown, LaTeX, PNG): what its two kinds of spread are.
CAPTION = (
    "Test {metric} in %. ± = sample standard deviation (ddof 1) over seeds; [ ] = 95 % bootstrap CI over test "
    "prompts (one seed: that seed's; several: of the seeds' mean, the same prompt resample for each seed). "
    "Bold: best row of the column."
)


def caption(table: dict[str, Any]) -> str:
    return CAPTION.format(metric=table["metric"])


# curve series the reward also dumps under its own name (same numbers from the same parser)
DUPLICATES = {"acc": "accuracy", "format": "format_compliance"}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def seed_mean_ci(
    outcomes: Sequence[Outcomes], metric: str = METRIC, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> dict | None:
    """95 % CI of the seeds' mean ``metric``, resampling the test prompts all seeds answered (the same resample for
    every seed): the test-set uncertainty of the row's mean, beside the seed-to-seed sd."""
    common = sorted(set.intersection(*(set(o.prompt_ids) for o in outcomes)))
    if len(common) < 2 or not n_resamples:
        return None
    functions = []
    for o in outcomes:
        position = {pid: i for i, pid in enumerate(o.prompt_ids)}
        order = np.array([position[p] for p in common])
        function = o.metric_functions().get(metric)
        if function is None:
            return None
        functions.append((function, order))

    def statistic(idx: np.ndarray) -> float | None:
        values = [f(order[idx]) for f, order in functions]
        known = [v for v in values if v is not None]
        return None if len(known) < len(values) else float(np.mean(known))

    return bootstrap_ci(len(common), statistic, n_resamples=n_resamples, seed=seed)


def build_table(
    runs: Sequence[RunReport], metric: str = METRIC, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> dict[str, Any]:
    """Rows (in order of first appearance) x datasets (sorted) + mean: per cell the seeds' values, their mean ± sd,
    the 95 % CI over test prompts (of the one seed, or of the seeds' mean), and the best row per column (highest
    mean)."""
    datasets = sorted({ds for run in runs for ds in run.get("datasets", {})})
    rows: dict[str, dict[str, dict]] = {}
    for run in runs:
        row, seed_name = row_and_seed(run["name"])
        for ds, m in run.get("datasets", {}).items():
            cell = rows.setdefault(row, {}).setdefault(ds, {"seeds": {}, "ci": None, "outcomes": []})
            cell["seeds"][seed_name] = m.get(metric)
            cell["ci"] = (m.get("ci") or {}).get(metric)
            if m.get("outcomes"):
                cell["outcomes"].append(Outcomes.from_dict(m["outcomes"]))
    table: dict[str, Any] = {"metric": metric, "datasets": datasets, "rows": {}}
    for row, cells in rows.items():
        out = {}
        for ds in datasets:
            if ds in cells:
                seeds = cells[ds]["seeds"]
                ci = cells[ds]["ci"]
                if len(seeds) > 1:
                    together = len(cells[ds]["outcomes"]) == len(seeds)
                    ci = seed_mean_ci(cells[ds]["outcomes"], metric, n_resamples, seed) if together else None
                out[ds] = {"values": seeds, **mean_sd(list(seeds.values())), "ci": ci}
        seed_names = sorted({s for c in cells.values() for s in c["seeds"]}, key=str)
        per_seed = [
            float(np.mean([cells[ds]["seeds"][s] for ds in datasets]))
            for s in seed_names
            if all(ds in cells and cells[ds]["seeds"].get(s) is not None for ds in datasets)
        ]
        out[MEAN] = {"values": dict(zip(seed_names, per_seed, strict=True)), **mean_sd(per_seed), "ci": None}
        table["rows"][row] = out
    table["best"] = {}
    for column in [*datasets, MEAN]:
        means = {
            row: cells[column]["mean"]
            for row, cells in table["rows"].items()
            if column in cells and cells[column]["mean"] is not None
        }
        if means:
            top = max(means.values())
            table["best"][column] = sorted(row for row, v in means.items() if v == top)
    return table


def _cell(cell: dict | None, pm: str = "±") -> str:
    """``mean ± sd [CI low, high]``: sd across seeds (several), CI over test prompts (when known)."""
    if cell is None or cell["mean"] is None:
        return "–"
    text = _pct(cell["mean"])
    if cell["sd"] is not None:
        text += f" {pm} {_pct(cell['sd'])}"
    if cell["ci"]:
        text += f" [{_pct(cell['ci']['low'])}, {_pct(cell['ci']['high'])}]"
    return text


def _seeds(cells: dict) -> str:
    counts = sorted({c["n"] for c in cells.values()})
    return "/".join(str(n) for n in counts)


def markdown_table(table: dict[str, Any]) -> str:
    """The table as Markdown; the best row per column in bold."""
    columns = [*table["datasets"], MEAN]
    lines = ["| row | seeds | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for row, cells in table["rows"].items():
        texts = []
        for column in columns:
            text = _cell(cells.get(column))
            texts.append(f"**{text}**" if row in table["best"].get(column, ()) else text)
        lines.append(f"| {row} | {_seeds(cells)} | " + " | ".join(texts) + " |")
    return "\n".join([*lines, "", caption(table)]) + "\n"


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX.get(char, char) for char in text)


def latex_table(table: dict[str, Any]) -> str:
    """The table as a booktabs LaTeX tabular; best row per column in bold."""
    columns = [*table["datasets"], MEAN]
    lines = [
        r"\begin{tabular}{l" + "c" * (len(columns) + 1) + "}",
        r"\toprule",
        "Row & Seeds & " + " & ".join(_latex_escape(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    for row, cells in table["rows"].items():
        texts = []
        for column in columns:
            text = _cell(cells.get(column), pm=r"$\pm$")
            texts.append(rf"\textbf{{{text}}}" if row in table["best"].get(column, ()) else text)
        lines.append(f"{_latex_escape(row)} & {_seeds(cells)} & " + " & ".join(texts) + r" \\")
    lines += [
        r"\bottomrule",
        rf"\multicolumn{{{len(columns) + 2}}}{{p{{0.95\linewidth}}}}"
        rf"{{\footnotesize {_latex_escape(caption(table))}}} \\",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def plot_table(table: dict[str, Any], path: Path) -> Path:
    """Grouped bars (columns = datasets and mean, one bar per row): error bars are the CI (one seed) or ± sd
    (seeds), dots the single seeds, a star the best row of each column."""
    columns = [*table["datasets"], MEAN]
    rows = list(table["rows"])
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(columns) * max(len(rows), 2) / 2, 4.2))
    width = 0.8 / len(rows)
    x = np.arange(len(columns))
    for i, row in enumerate(rows):
        cells = table["rows"][row]
        pos = x + (i - (len(rows) - 1) / 2) * width
        means = np.array([np.nan if cells.get(c, {}).get("mean") is None else cells[c]["mean"] for c in columns])
        low, high = [], []
        for c, m in zip(columns, means, strict=True):
            cell = cells.get(c) or {}
            if cell.get("ci"):
                low.append(max(m - cell["ci"]["low"], 0.0))
                high.append(max(cell["ci"]["high"] - m, 0.0))
            else:
                low.append(0.0)
                high.append(0.0)
        ax.bar(pos, means, width=width, label=row, yerr=[low, high], capsize=3, color=f"C{i}", alpha=0.85)
        for j, c in enumerate(columns):
            values = [v for v in (cells.get(c) or {}).get("values", {}).values() if v is not None]
            if len(values) > 1:
                ax.scatter([pos[j]] * len(values), values, s=12, color="black", zorder=3)
            if row in table["best"].get(c, ()):
                ax.annotate("★", (pos[j], 0.02), ha="center", fontsize=11, color="white")
    ax.set_xticks(x, columns)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"test {table['metric']}")
    ax.set_title(
        f"test {table['metric']}: bars = mean over seeds, whiskers = 95 % CI over test prompts, "
        "dots = seeds, ★ = best row",
        fontsize=10,
    )
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.text(0.01, 0.005, caption(table), fontsize=7, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.2)
    return save_figure(fig, path)


def _curve_series(runs: Sequence[RunReport], dataset: str) -> list[str]:
    """Series of one dataset worth a panel: not a duplicate of the parser's, not zero throughout (a reward
    component the task does not use, e.g. MFRS on a binary task)."""
    keys: set[str] = set()
    for run in runs:
        curve = run.get("curves", {}).get(dataset, {})
        keys |= {k for k, v in curve.items() if k != "step" and k not in DUPLICATES and any(v)}
    return sorted(keys, key=lambda k: (k != "accuracy", k != "score", k))


def plot_training_curves(runs: Sequence[RunReport], path: Path) -> Path | None:
    """One figure for all rows: per dataset (figure rows) and series (columns: validation accuracy, the run's
    reward and each reward component, from the validation dumps; then the training reward from the rollout
    dumps), one line per ablation row, the mean over its seeds with the seeds' range shaded."""
    with_curves = [r for r in runs if r.get("curves")]
    with_rollouts = [r for r in runs if r.get("rollout_sparsity")]
    if not with_curves and not with_rollouts:
        return None
    datasets = sorted({ds for r in with_curves for ds in r["curves"]})
    series = {ds: _curve_series(with_curves, ds) for ds in datasets}
    panels = [(ds, key) for ds in datasets for key in series[ds]] + [(None, "train score")] * bool(with_rollouts)
    n_cols = max([len(keys) for keys in series.values()] + [1])
    n_rows = len(datasets) + bool(with_rollouts)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.6 * n_cols + 1.8, 2.8 * n_rows), squeeze=False, layout="constrained"
    )
    row_names = list(dict.fromkeys(row_and_seed(r["name"])[0] for r in runs))
    colors = {row: f"C{i % 10}" for i, row in enumerate(row_names)}
    for ax in axes.flat:
        ax.set_visible(False)
    for ds, key in panels:
        ax = axes[datasets.index(ds), series[ds].index(key)] if ds is not None else axes[n_rows - 1, 0]
        ax.set_visible(True)
        for row in row_names:
            by_step: dict[int, list[float]] = defaultdict(list)
            for run in runs:
                if row_and_seed(run["name"])[0] != row:
                    continue
                if ds is None:
                    curve = (run.get("rollout_sparsity") or {}).get("by_step", {})
                    steps, values = curve.get("step", []), curve.get("mean_score", [])
                else:
                    curve = run.get("curves", {}).get(ds, {})
                    steps, values = curve.get("step", []), curve.get(key, [])
                for step, value in zip(steps, values, strict=False):
                    if step is not None:
                        by_step[step].append(value)
            if not by_step:
                continue
            steps = sorted(by_step)
            mean = [np.mean(by_step[s]) for s in steps]
            ax.plot(steps, mean, marker="o", markersize=3, color=colors[row], label=row)
            if any(len(by_step[s]) > 1 for s in steps):
                ax.fill_between(
                    steps,
                    [min(by_step[s]) for s in steps],
                    [max(by_step[s]) for s in steps],
                    color=colors[row],
                    alpha=0.2,
                    linewidth=0,
                )
        title = (
            "training reward (rollouts)"
            if ds is None
            else f"{ds}: " + ("validation accuracy" if key == "accuracy" else key)
        )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    handles, labels = next(((h, lab) for h, lab in (a.get_legend_handles_labels() for a in axes.flat) if h), ([], []))
    fig.legend(handles, labels, loc="outside right upper", frameon=False, title="row (mean of seeds; range shaded)")
    return save_figure(fig, path)


def write_table(
    runs: Sequence[RunReport], out_dir: Path, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> tuple[dict[str, Any], list[Path]]:
    """``table.md``, ``table.tex``, ``table.png`` and ``training_curves.png`` (when dumps have steps)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = build_table(runs, n_resamples=n_resamples, seed=seed)
    written = [out_dir / "table.md", out_dir / "table.tex"]
    write_text_atomic(written[0], markdown_table(table))
    write_text_atomic(written[1], latex_table(table))
    written.append(plot_table(table, out_dir / "table.png"))
    curves = plot_training_curves(runs, out_dir / "training_curves.png")
    return table, written + ([curves] if curves else [])


def merge_reports(paths: Sequence[Path]) -> list[RunReport]:
    """Runs of several ``metrics.json`` files; a run evaluated per dataset in separate files is merged, a run and
    dataset found twice is an error (which one would the table show?)."""
    merged: dict[str, RunReport] = {}
    for path in paths:
        try:
            report = json.loads(Path(path).read_text(encoding="utf-8"))
            runs = report["runs"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise EvalDataError(
                f"--table {path}: not a verl-med-eval metrics.json ({type(err).__name__}: {err})"
            ) from err
        for run in runs:
            target = merged.setdefault(run["name"], {"name": run["name"], "datasets": {}, "curves": {}})
            for ds, m in run.get("datasets", {}).items():
                if ds in target["datasets"]:
                    raise EvalDataError(f"--table: run {run['name']!r} has dataset {ds!r} in two files ({path})")
                target["datasets"][ds] = m
            target["curves"].update(run.get("curves", {}))
            if run.get("rollout_sparsity"):
                target["rollout_sparsity"] = run["rollout_sparsity"]
    return list(merged.values())


def table_main(paths: Sequence[str], out_dir: Path, n_resamples: int = N_RESAMPLES, seed: int = 0) -> int:
    """``verl-med-eval --table metrics.json ... --out DIR``."""
    try:
        runs = merge_reports([Path(p) for p in paths])
        if not any(r["datasets"] for r in runs):
            raise EvalDataError("--table: the metrics.json files hold no evaluated dataset")
        _, written = write_table(runs, out_dir, n_resamples, seed)
    except EvalDataError as err:
        print(f"verl-med-eval: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0
