"""Writing the report: ``metrics.json`` (NaN/infinite values as null), ``summary.md`` and the plots, staged in a
hidden folder and moved in only when every file is written."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from data_preprocess.atomic import write_text_atomic
from verl_med_plugin.evaluation.plots import write_plots
from verl_med_plugin.evaluation.records import Report
from verl_med_plugin.evaluation.summary import markdown_summary
from verl_med_plugin.evaluation.table import markdown_table, write_table


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


def write_report(report: Report, out_dir: Path) -> list[Path]:
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


def _write_report_files(report: Report, out_dir: Path) -> list[str]:
    """The report's files in ``out_dir`` (see ``write_report``); their names, metrics and summary first."""
    original = report
    images = write_plots(report, out_dir)
    tables: list[Path] = []
    if sum(bool(run.get("datasets")) for run in report["runs"]) >= 2:  # rows (and seeds) side by side
        boot = report.get("bootstrap")
        n_resamples, seed = (boot["n_resamples"], boot["seed"]) if boot else (1000, 0)
        table, tables = write_table(report["runs"], out_dir, n_resamples, seed)
        report = {**report, "table": {k: v for k, v in table.items()}}
        images[""] = images.get("", []) + [p.name for p in tables if p.suffix == ".png"]
    safe, non_finite = json_safe(report)
    original["non_finite_values"] = safe["non_finite_values"] = non_finite
    write_text_atomic(out_dir / "metrics.json", json.dumps(safe, indent=2, default=str, allow_nan=False) + "\n")
    summary_report = {**report, "table_markdown": markdown_table(report["table"])} if tables else report
    write_text_atomic(out_dir / "summary.md", markdown_summary(summary_report, images))
    names = ["metrics.json", "summary.md"] + [name for group in images.values() for name in group]
    return names + [p.name for p in tables if p.suffix != ".png"]
