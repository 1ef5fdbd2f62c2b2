"""The paper's table: 3 ablation rows x 2 datasets x 2 seeds (``eval_fixtures.write_table_fixture``) evaluated
together and from separate ``metrics.json`` files; the Markdown table is the one in ``docs/evaluation.md``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from eval_fixtures import TABLE_DATASETS, TABLE_ROWS, TABLE_SEEDS, captured_figures, write_table_fixture

from verl_med_plugin.evaluation import evaluate, table
from verl_med_plugin.evaluation.dumps import EvalDataError

DOCS = Path(__file__).parents[1] / "docs" / "evaluation.md"
RESAMPLES = "300"  # as in the docs' command


# One report for the module, computed in one test process (session scope: other modules' tests may run between
# this module's under --dist loadgroup, which would tear a module fixture down and rebuild it).
pytestmark = pytest.mark.xdist_group("eval_table_report")


@pytest.fixture(scope="session")
def fixture_runs(tmp_path_factory):
    return write_table_fixture(tmp_path_factory.mktemp("table"))


@pytest.fixture(scope="session")
def report_and_figures(fixture_runs, tmp_path_factory):
    """The report folder and what each of its plots shows (``eval_fixtures.captured_figures``)."""
    out = tmp_path_factory.mktemp("report")
    args = [f"{name}={path}" for name, path in fixture_runs.items()]
    with captured_figures() as shown:
        assert evaluate.main([*args, "--bootstrap", RESAMPLES, "--baseline", "sft@1", "--out", str(out)]) == 0
    return out, shown


@pytest.fixture(scope="session")
def report(report_and_figures):
    return report_and_figures[0]


def test_table_cells_are_seed_means_with_sd_and_ci(report):
    metrics = json.loads((report / "metrics.json").read_text())
    runs = {r["name"]: r for r in metrics["runs"]}
    assert set(runs) == {f"{row}@{seed}" for row in TABLE_ROWS for seed in TABLE_SEEDS}
    cells = metrics["table"]["rows"]
    for row in TABLE_ROWS:
        for ds in TABLE_DATASETS:
            values = [runs[f"{row}@{s}"]["datasets"][ds]["accuracy"] for s in TABLE_SEEDS]
            cell = cells[row][ds]
            assert cell["mean"] == pytest.approx(np.mean(values))
            assert cell["sd"] == pytest.approx(np.std(values, ddof=1))
            assert cell["ci"]["low"] <= cell["mean"] <= cell["ci"]["high"]
        per_seed = [
            np.mean([runs[f"{row}@{s}"]["datasets"][ds]["accuracy"] for ds in TABLE_DATASETS]) for s in TABLE_SEEDS
        ]
        assert cells[row]["mean"]["mean"] == pytest.approx(np.mean(per_seed))
    assert metrics["table"]["best"] == {"breastmnist": ["vrft_aug"], "retinamnist": ["vrft_aug"], "mean": ["vrft_aug"]}


def test_markdown_latex_png_and_curves(report):
    md = (report / "table.md").read_text()
    assert md.splitlines()[0] == "| row | seeds | breastmnist | retinamnist | mean |"
    best = next(line for line in md.splitlines() if line.startswith("| vrft_aug |"))
    assert best.count("**") == 6  # bold in each of the three columns
    tex = (report / "table.tex").read_text()
    assert tex.startswith(r"\begin{tabular}{lcccc}") and r"vrft\_aug" in tex and r"\textbf{" in tex
    assert r"$\pm$" in tex and tex.rstrip().endswith(r"\end{tabular}")
    summary = (report / "summary.md").read_text()
    assert "## Rows across datasets and seeds" in summary and md.splitlines()[2] in summary
    assert "![training_curves](training_curves.png)" in summary


def test_table_and_curve_plots_show_the_table(report_and_figures):
    """table.png draws each row's cells (mean over seeds, per dataset and the mean column) and the single seeds;
    training_curves.png draws per row the mean over its seeds of each validation curve. Mutations checked: bars of
    the first seed's value instead of the seed mean, and curves of the last seed instead of the mean, both fail here
    (the PNG-size check they replace passed both)."""
    out, shown = report_and_figures
    metrics = json.loads((out / "metrics.json").read_text())
    cells, runs = metrics["table"]["rows"], {r["name"]: r for r in metrics["runs"]}
    [bars] = shown["table.png"]
    columns = [*metrics["table"]["datasets"], "mean"]
    assert bars.bars == [pytest.approx([cells[row][c]["mean"] for c in columns]) for row in cells]
    curves = {p.title: p for p in shown["training_curves.png"]}
    for ds in TABLE_DATASETS:
        panel = curves[f"{ds}: validation accuracy"]
        for row in TABLE_ROWS:
            per_seed = [runs[f"{row}@{s}"]["curves"][ds] for s in TABLE_SEEDS]
            steps, mean = panel.lines[row]
            assert steps == per_seed[0]["step"]
            assert mean == pytest.approx(np.mean([c["accuracy"] for c in per_seed], axis=0))


def test_docs_show_the_fixture_table(report):
    """docs/evaluation.md shows this fixture's table, so the documented format is the one the code writes."""
    assert (report / "table.md").read_text().strip() in DOCS.read_text()


def test_paired_comparisons_against_the_baseline(report):
    metrics = json.loads((report / "metrics.json").read_text())
    comparisons = metrics["comparisons"]
    assert {(c["run"], c["dataset"]) for c in comparisons} == {
        (f"{row}@{s}", ds) for row in TABLE_ROWS for s in TABLE_SEEDS for ds in TABLE_DATASETS
    } - {("sft@1", ds) for ds in TABLE_DATASETS}
    runs = {r["name"]: r for r in metrics["runs"]}
    for c in comparisons:
        run, base = runs[c["run"]]["datasets"][c["dataset"]], runs["sft@1"]["datasets"][c["dataset"]]
        assert c["n_prompts"] == TABLE_DATASETS[c["dataset"]]
        assert c["differences"]["accuracy"]["difference"] == pytest.approx(run["accuracy"] - base["accuracy"])
        assert 0 <= c["mcnemar"]["p_value"] <= 1
    summary = (report / "summary.md").read_text()
    assert "## Paired comparisons" in summary and "vrft_aug@2 − sft@1" in summary


def test_table_from_separate_metrics_files(fixture_runs, tmp_path, capsys):
    """examples/common.sh evaluates each row, dataset and seed on its own; --table joins their metrics.json."""
    files = []
    for name, path in fixture_runs.items():
        out = tmp_path / name
        assert evaluate.main([f"{name}={path}", "--bootstrap", "0", "--out", str(out)]) == 0
        files.append(str(out / "metrics.json"))
    capsys.readouterr()
    joined = tmp_path / "paper"
    assert evaluate.main(["--table", *files, "--bootstrap", "100", "--out", str(joined)]) == 0
    assert {p.name for p in joined.iterdir()} == {"table.md", "table.tex", "table.png", "training_curves.png"}
    assert (joined / "table.md").read_text().splitlines()[0] == "| row | seeds | breastmnist | retinamnist | mean |"
    assert evaluate.main(["--table", files[0], files[0], "--out", str(joined)]) == 2
    assert "has dataset 'breastmnist' in two files" in capsys.readouterr().err


def test_duplicate_run_names_are_refused(fixture_runs, tmp_path, capsys):
    path = fixture_runs["sft@1"]
    with pytest.raises(SystemExit) as exit_:
        evaluate.main([f"a={path}", f"a={fixture_runs['sft@2']}", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert "run name 'a' given twice" in capsys.readouterr().err
    with pytest.raises(EvalDataError, match="given twice"):
        evaluate.named_paths([str(path), str(path)], "runs")


def test_latex_escapes_row_names():
    assert table._latex_escape("a_b & 50% {x}") == r"a\_b \& 50\% \{x\}"


def test_old_module_paths_and_commands_still_work():
    from verl_med_plugin import evaluate as old_evaluate
    from verl_med_plugin import generate_offline as old_generate
    from verl_med_plugin.evaluation import generate

    assert old_evaluate.main is evaluate.main and old_generate.main is generate.main
    assert old_generate.write_generations is generate.write_generations
    for module in ("verl_med_plugin.evaluate", "verl_med_plugin.generate_offline"):
        result = subprocess.run(
            [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0 and "usage:" in result.stdout, result.stderr
