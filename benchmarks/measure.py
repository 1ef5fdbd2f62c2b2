"""Shared by the conversion benchmarks (``bench_convert.py``, ``bench_convert_vqa.py``): one side of a comparison
run in a fresh interpreter, so its peak RSS is its own, and the table of the two sides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Figures of the comparison table, after the throughput row, with their formats.
TABLE_FIGURES = (
    ("seconds", "{:.1f}"),
    ("peak_rss_mb", "{:.0f}"),
    ("rss_after_imports_mb", "{:.0f}"),
    ("output_mb", "{:.0f}"),
)


def measure(script: str, side: str, source: Path, out: Path, *, imports: str, rate: str) -> dict[str, Any]:
    """Run ``<script>.run_<side>(source, out)`` in a fresh interpreter: wall time of the conversion alone (after
    ``imports``, the modules both sides load), the process's peak RSS, and the parquet written to ``out`` (rows,
    MB, and ``rate`` = rows per second)."""
    code = (
        "import json, resource, sys, time\n"
        f"sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(REPO / 'benchmarks')!r})\n"
        f"import {script} as b\n"
        f"import psutil, {imports}\n"  # imports are not conversion time
        "imported = psutil.Process().memory_info().rss / 2**20\n"
        f"t = time.perf_counter(); b.run_{side}(b.Path({str(source)!r}), b.Path({str(out)!r}))\n"
        "seconds = time.perf_counter() - t\n"
        "rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(json.dumps({'seconds': seconds, 'peak_rss_mb': rss / 1024, 'rss_after_imports_mb': imported}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{side} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    import pyarrow.parquet as pq

    files = sorted(out.glob("*.parquet"))
    result["rows"] = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    result["output_mb"] = sum(f.stat().st_size for f in files) / 2**20
    result[rate] = result["rows"] / result["seconds"]
    return result


def compare(
    script: str, source: Path, workdir: Path, *, imports: str, rate: str, rows: int
) -> tuple[dict[str, Any], dict[str, Any], float, float]:
    """``measure`` our side, then the baseline, on ``source`` (outputs under ``workdir``), print each, check both
    wrote ``rows`` rows; returns both results, the throughput ratio and the peak-RSS ratio (ours / baseline)."""
    ours = measure(script, "ours", source, workdir / "ours", imports=imports, rate=rate)
    print("ours    ", json.dumps(ours))
    baseline = measure(script, "baseline", source, workdir / "baseline", imports=imports, rate=rate)
    print("baseline", json.dumps(baseline))
    assert ours["rows"] == baseline["rows"] == rows, (ours["rows"], baseline["rows"], rows)
    return ours, baseline, ours[rate] / baseline[rate], ours["peak_rss_mb"] / baseline["peak_rss_mb"]


def comparison_table(ours: dict[str, Any], baseline: dict[str, Any], *, columns: tuple[str, str], rate: str) -> str:
    """Markdown table of the two sides' figures (``columns``: their headings)."""
    rows = [("", *columns)]
    for key, fmt in ((rate, "{:.0f}"), *TABLE_FIGURES):
        rows.append((key, fmt.format(ours[key]), fmt.format(baseline[key])))
    return "\n".join("| " + " | ".join(r) + " |" for r in [rows[0], ("---",) * 3, *rows[1:]])
