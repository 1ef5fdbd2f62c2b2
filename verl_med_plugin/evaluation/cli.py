"""The command line of ``verl-med-eval`` (``python -m verl_med_plugin.evaluate``): metrics, plots and run
comparisons from verl dumps.

Answers are parsed by ``reward_fns.parse_answer``, the parser the training reward uses, with the run's reward
kwargs, so offline numbers and in-training rewards cannot disagree through parsing. Inputs: verl's
``trainer.validation_data_dir`` / ``trainer.rollout_data_dir`` dumps or any JSONL of the same fields (see
``evaluation.dumps``), plus the prepared parquet (``--data``) when the records carry no ``extra_info``.

    verl-med-eval sft=gen/sft.jsonl vrft=ckpt/vrft/val mfrs=ckpt/mfrs/val \\
        --rollouts vrft=ckpt/vrft/rollout --rollouts mfrs=ckpt/mfrs/rollout \\
        --data ~/data/verl_med/retinamnist/test.parquet --reward_kwargs mfrs=outputs/mfrs/.hydra/config.yaml \\
        --out reports/retina
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from verl_med_plugin.evaluation.aggregation import check_comparable, comparisons
from verl_med_plugin.evaluation.dumps import (
    KEPT_KINDS,
    EvalDataError,
    PreparedData,
)
from verl_med_plugin.evaluation.judge import vllm_generate
from verl_med_plugin.evaluation.protocols import PROTOCOLS
from verl_med_plugin.evaluation.records import Report
from verl_med_plugin.evaluation.run import evaluate_run
from verl_med_plugin.evaluation.statistics import (
    N_RESAMPLES,
)


def load_reward_kwargs(value: str | None) -> dict[str, Any]:
    """Reward kwargs from JSON text, a YAML/JSON mapping file, or a run's Hydra config (``.hydra/config.yaml``)."""
    if not value:
        return {}
    path = Path(value)
    if not path.is_file():
        try:
            data = json.loads(value)
        except json.JSONDecodeError as err:
            raise EvalDataError(f"--reward_kwargs: neither a file nor JSON ({err.msg})") from err
    else:
        import yaml
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        try:
            config = OmegaConf.load(path)
            node = OmegaConf.select(config, "reward.custom_reward_function.reward_kwargs", default=None)
            data = OmegaConf.to_container(config if node is None else node, resolve=True)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, OmegaConfBaseException) as err:
            raise EvalDataError(
                f"--reward_kwargs {path}: not a readable YAML/JSON mapping ({type(err).__name__}: {err})"
            ) from err
    if not isinstance(data, dict):
        raise EvalDataError(f"--reward_kwargs: expected a mapping, got {type(data).__name__}")
    return data


def check_reward_kwargs(kwargs: dict[str, Any], where: str) -> None:
    """Refuse what training refuses (``reward_fns.config.reward_kwargs_problems``, the validator training's preflight
    runs): unknown keys and values outside a setting's range; the first problem is raised naming ``where``."""
    from reward_fns.config import reward_kwargs_problems

    problems = reward_kwargs_problems(kwargs)
    if problems:
        raise EvalDataError(f"{where}: {problems[0]}")


def reward_kwargs_by_run(specs: Sequence[str]) -> dict[str | None, dict[str, Any]]:
    """``--reward_kwargs`` values: ``JSON|FILE`` applies to every run (key None), ``NAME=JSON|FILE`` to one run
    (``main`` validates each with ``check_reward_kwargs``)."""
    by_run: dict[str | None, dict[str, Any]] = {}
    name: str | None
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or spec.lstrip().startswith("{") or Path(spec).is_file():
            name, value = None, spec
        by_run[name] = load_reward_kwargs(value)
    return by_run


def _named_path(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep:
        path = spec
        name = Path(spec).stem if Path(spec).is_file() else Path(spec).name
    return name, Path(path).expanduser()


def named_paths(specs: Sequence[str], what: str) -> dict[str, Path]:
    """``[NAME=]PATH`` arguments by name; a name given twice is an error (the second would silently replace the
    first, and seeds of one row must be named ``row@seed``)."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, path = _named_path(spec)
        if name in out:
            raise EvalDataError(
                f"{what}: run name {name!r} given twice ({out[name]} and {path}); name runs "
                "NAME=PATH, seeds of one row ROW@SEED=PATH"
            )
        out[name] = path
    return out


def parse_positive(specs: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``--positive DATASET=LABEL[,LABEL...]`` values."""
    out = {}
    for spec in specs:
        dataset, sep, labels = spec.partition("=")
        if not sep or not dataset or not labels.strip():
            raise EvalDataError(f"--positive {spec!r}: expected DATASET=LABEL[,LABEL...]")
        out[dataset] = tuple(label.strip() for label in labels.split(",") if label.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verl-med-eval",
        description="Evaluate verl-med runs from verl dumps with the reward's own answer parser.",
    )
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="[NAME=]PATH",
        help="generations of a run: trainer.validation_data_dir, one of its <step>.jsonl, or a JSONL "
        "from verl_med_plugin.evaluation.generate; several runs are compared side by side",
    )
    parser.add_argument(
        "--rollouts",
        action="append",
        default=[],
        metavar="[NAME=]DIR",
        help="trainer.rollout_data_dir of a run (reward sparsity); NAME matches a run",
    )
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        type=Path,
        metavar="PARQUET",
        help="prepared parquet(s) the dumps were generated from: extra_info for records without it",
    )
    parser.add_argument(
        "--reward_kwargs",
        "--reward-kwargs",
        action="append",
        default=[],
        metavar="[NAME=]JSON|FILE",
        help="reward kwargs the parser is called with, as in training: JSON, a YAML mapping or the "
        "run's .hydra/config.yaml; NAME= for one run, else every run",
    )
    parser.add_argument("--step", default="last", help="validation step to evaluate (default: the last one)")
    parser.add_argument("--out", type=Path, default=Path("reports/eval"), help="report directory")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad record instead of counting it")
    parser.add_argument(
        "--positive",
        action="append",
        default=[],
        metavar="DATASET=LABEL[,LABEL]",
        help="clinically positive class(es) for sensitivity/specificity/PPV/NPV (default: the "
        "'positive:' key of the dataset's knowledge card)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=N_RESAMPLES,
        metavar="N",
        help=f"bootstrap resamples of prompts for 95%% CIs and paired tests (default {N_RESAMPLES}; 0: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap")
    parser.add_argument(
        "--judge",
        metavar="MODEL",
        help="also judge open VQA answers with this local HF model through vLLM (fixed, versioned prompt, "
        "temperature 0), reported beside exact match and recall",
    )
    parser.add_argument(
        "--judge_cache",
        type=Path,
        default=None,
        metavar="JSON",
        help="the judge's verdict cache (default: <out>/judge_cache.json)",
    )
    parser.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default=None,
        help="also report each VQA dataset's figure under a published harness's split and scorer "
        "(docs/vqa.md: source repository and commit of each)",
    )
    parser.add_argument(
        "--baseline", help="run the others are compared with (paired bootstrap, McNemar); default: the first run"
    )
    parser.add_argument(
        "--table",
        nargs="+",
        metavar="METRICS_JSON",
        help="instead of evaluating: the paper's table (Markdown, LaTeX, PNG) and training curves from "
        "the metrics.json of earlier evaluations (rows x datasets x seeds; runs named ROW@SEED)",
    )
    return parser


# Files the report writes (report.py, table.py); their hidden temporaries left by a killed run are removed.
REPORT_SUFFIXES = (".json", ".md", ".png", ".tex")


def prepare_out(out: Path) -> None:
    """Create the report folder, or refuse it in one line (a file, under a file, not writable), before any
    evaluation work; stale temporaries of a killed earlier run are removed (``data_preprocess.validate``)."""
    from data_preprocess.common import ConversionError
    from data_preprocess.validate import prepare_output_dir, remove_stale_temp_files

    try:
        prepare_output_dir(out, "--out")
    except ConversionError as err:
        raise EvalDataError(str(err)) from None
    remove_stale_temp_files(out, REPORT_SUFFIXES)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; Ctrl-C / SIGTERM end it with one line and exit 130 / 143, no traceback, and no temporary
    file left (``data_preprocess.validate.run_guarded``)."""
    from data_preprocess.validate import run_guarded

    return run_guarded(_main, argv)


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.table:
        from verl_med_plugin.evaluation.table import table_main

        prepare_out(args.out)  # an EvalDataError ends the command in run_guarded
        return table_main(args.table, args.out, args.bootstrap, args.seed)
    if not args.runs and not args.rollouts:
        build_parser().error("give at least one run or --rollouts directory")
    # An EvalDataError (a UserError) ends the command in run_guarded: one "verl-med: error:" line, exit 2.
    prepare_out(args.out)
    generations = named_paths(args.runs, "runs")
    rollouts = named_paths(args.rollouts, "--rollouts")
    positive = parse_positive(args.positive)
    kwargs_by_run = reward_kwargs_by_run(args.reward_kwargs)
    for name, kwargs in kwargs_by_run.items():
        check_reward_kwargs(kwargs, "--reward_kwargs" if name is None else f"--reward_kwargs {name}=")
    unknown = {n for n in kwargs_by_run if n is not None} - {*generations, *rollouts}
    if unknown:
        raise EvalDataError(f"--reward_kwargs names no run: {sorted(unknown)}")
    prepared = PreparedData.from_parquet(args.data) if args.data else None
    judge = None
    if args.judge:
        judge = (args.judge, vllm_generate(args.judge, args.seed), args.judge_cache or args.out / "judge_cache.json")
    names = list(generations) + [n for n in rollouts if n not in generations]
    runs = [
        evaluate_run(
            n,
            generations.get(n),
            rollouts.get(n),
            prepared,
            kwargs_by_run.get(n, kwargs_by_run.get(None, {})),
            args.step,
            args.strict,
            positive,
            args.bootstrap,
            args.seed,
            args.protocol,
            judge,
        )
        for n in names
    ]
    check_comparable(runs)
    compared = comparisons(runs, args.baseline, args.bootstrap, args.seed)
    from verl_med_plugin.evaluation.writer import write_report

    report: Report = {
        "parser": "reward_fns.parse_answer",
        "runs": runs,
        "comparisons": compared,
        "bootstrap": {"n_resamples": args.bootstrap, "seed": args.seed, "unit": "prompt"},
    }
    try:
        written = write_report(report, args.out)
    except OSError as err:  # disk full, read-only: one line, no new report file
        raise EvalDataError(f"--out {args.out}: cannot write the report ({err.strerror or err})") from None
    for path in written:
        print(path)
    for run in runs:
        for kind, info in run["problems"].items():
            what = "kept with" if kind in KEPT_KINDS else "skipped:"
            print(
                f"verl-med-eval: warning: {run['name']}: {info['count']} record(s) {what} {kind}, "
                f"e.g. {info['examples'][0]}",
                file=sys.stderr,
            )
    if report.get("non_finite_values"):
        print(
            f"verl-med-eval: warning: {report['non_finite_values']} NaN/infinite value(s) written as null in "
            "metrics.json",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
