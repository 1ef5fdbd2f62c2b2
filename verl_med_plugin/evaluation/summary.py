"""``summary.md``: the report as markdown tables (runs x metrics per dataset, CIs, VQA breakdowns, clinical
figures, consistency, comparisons), in the paper's layout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reward_fns.task_type import TaskType
from verl_med_plugin.evaluation.dumps import KEPT_KINDS
from verl_med_plugin.evaluation.records import Comparison, DatasetMetrics, Report, RunReport, report_datasets
from verl_med_plugin.evaluation.tools import tool_use_lines

# The runs that evaluated one dataset, each with its metrics there (the rows of that dataset's tables).
Present = list[tuple[RunReport, DatasetMetrics]]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _num(digits: int) -> Callable[[float | None], str]:
    return lambda value: "–" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


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


def _dataset_table(present: Present) -> list[str]:
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


def _ci_table(present: Present) -> list[str]:
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


def _vqa_breakdown(present: Present, key: str, what: str) -> list[str]:
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


def _clinical_table(present: Present) -> list[str]:
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


def _consistency_lines(present: Present) -> list[str]:
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


def comparison_table(comparisons: list[Comparison]) -> list[str]:
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


def markdown_summary(report: Report, images: dict[str, list[str]]) -> str:
    """The summary page: overview, one table per dataset (rows = runs), per-class recall, sparsity, warnings."""
    runs = report["runs"]
    datasets = report_datasets(report)
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
