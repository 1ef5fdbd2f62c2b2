"""Data checks: every train/val file exists, is readable and has verl-med's columns, the train files hold the task
types the curriculum draws from, a localization row's exclusions are proven, and each file's reference answers score
acc = 1 under the configured reward kwargs (the data and the reward agree)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from reward_fns.task_type import TaskType
from verl_med_plugin import verl_compat
from verl_med_plugin.checks.errors import ConfigError
from verl_med_plugin.checks.values import as_list, plain

MEDMNIST_2D = (
    "pathmnist",
    "chestmnist",
    "dermamnist",
    "octmnist",
    "pneumoniamnist",
    "retinamnist",
    "breastmnist",
    "bloodmnist",
    "tissuemnist",
    "organamnist",
    "organcmnist",
    "organsmnist",
)


# --------------------------------------------------------------------------- data files against the config
# Columns verl and verl-med read from every row (data_preprocess.schema); data.prompt_key comes on top.
REQUIRED_COLUMNS = ("data_source", "reward_model", "extra_info")


def data_file_problems(config: DictConfig) -> list[str]:
    """Each existing ``data.train_files``/``data.val_files`` parquet is readable, has rows and verl-med's columns,
    and the train files hold the task types ``med.sampler.schedule`` draws from. Reads the footer and one small
    column only; without this, a wrong schema surfaced as "no rows left after the length filter" and a grounding
    stage on data without grounding rows failed only after Ray started."""
    import pyarrow.parquet as pq
    from pyarrow import ArrowException

    from verl_med_plugin.med_settings import Schedule, SettingsError

    prompt_key = str(OmegaConf.select(config, "data.prompt_key", default="prompt") or "prompt")
    problems: list[str] = []
    train_task_types: dict[str, set[str]] = {}
    for key in ("data.train_files", "data.val_files"):
        for path in as_list(OmegaConf.select(config, key)):
            file = Path(path).expanduser()
            if not file.is_file():
                continue  # reported by the missing-file check
            try:
                parquet = pq.ParquetFile(file)
                names = parquet.schema_arrow.names
                missing = [c for c in (prompt_key, *REQUIRED_COLUMNS) if c not in names]
                if missing:
                    problems.append(
                        f"{key}: {path}: no column(s) {missing} (it has {names}); write verl-med data "
                        "with data_preprocess (schema: data_preprocess/schema.py) or set data.prompt_key"
                    )
                elif parquet.metadata.num_rows == 0:
                    problems.append(f"{key}: {path}: the file has no rows")
                elif key == "data.train_files":
                    train_task_types[path] = _task_types(file)
            except (OSError, ValueError, KeyError, ArrowException) as err:
                problems.append(
                    f"{key}: {path}: not a readable parquet file of verl-med rows ({type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else ''})"
                )
    problems += exclusion_problems(config)
    if problems or not train_task_types or not OmegaConf.select(config, "med.sampler.enable"):
        return problems
    try:
        schedule = Schedule.from_config(plain(OmegaConf.select(config, "med.sampler.schedule")))
    except SettingsError:
        return problems  # reported by check_med_config
    found = set().union(*train_task_types.values())
    have = {"grounding": TaskType.GROUNDING in found, "classification": bool(found - {TaskType.GROUNDING})}
    for task in sorted(schedule.needs_tasks()):
        if not have[task]:
            problems.append(
                f"med.sampler.schedule draws {task} samples, but data.train_files has none (task types: "
                f"{sorted(found)} in {list(train_task_types)}): add a {task} parquet to data.train_files "
                "or change the schedule"
            )
    return problems


def exclusion_problems(config: DictConfig) -> list[str]:
    """A train folder ``<grounding>_..._minus_<med.dataset>`` (the localization rows' BUSI without the dataset's
    val/test images) must carry the proof of that exclusion (``data_preprocess.exclude.EXCLUDED_FILE``): one match
    for every row of the dataset's val and test parquet as they are now, so re-prepared splits or a folder converted
    without ``--exclude`` are caught before training."""
    import pyarrow.parquet as pq

    from data_preprocess.exclude import EXCLUDED_FILE

    dataset = OmegaConf.select(config, "med.dataset")
    data_dir = Path(str(OmegaConf.select(config, "med.data_dir") or "")).expanduser()
    problems = []
    for path in as_list(OmegaConf.select(config, "data.train_files")):
        folder = Path(path).expanduser().parent
        if not dataset or not folder.name.endswith(f"_minus_{dataset}") or not folder.is_dir():
            continue
        record = folder / EXCLUDED_FILE
        if not record.is_file():
            problems.append(
                f"data.train_files: {folder} has no {EXCLUDED_FILE}: it was converted without --exclude of "
                f"{dataset}'s val/test images (or by an older verl-med); convert it again (examples/common.sh "
                "prepare_localization)"
            )
            continue
        entries = pq.read_table(record, columns=["target_file", "source"]).to_pylist()
        for split in ("val", "test"):
            target = data_dir / dataset / f"{split}.parquet"
            if not target.is_file():
                continue
            rows = pq.ParquetFile(target).metadata.num_rows
            mine = [e for e in entries if Path(e["target_file"]).expanduser().resolve() == target.resolve()]
            matched = sum(e["source"] is not None for e in mine)
            if len(mine) != rows:
                problems.append(
                    f"data.train_files: {record} lists {len(mine)} of the {rows} images of {target}: the "
                    f"exclusion was not made against {dataset}'s {split} split as it is now; convert {folder} again"
                )
            elif 0 < matched < rows:  # a derived set whose sources are partly elsewhere: the rest may leak
                problems.append(
                    f"data.train_files: {record} matches only {matched}/{rows} images of {target} to a source: "
                    f"the others' sources may be in training; convert {folder} again without --exclude_partial"
                )
    return problems


def _task_types(file: Path) -> set[str]:
    """The distinct ``extra_info.task_type`` values of a parquet file (one nested column read)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(file, columns=["extra_info.task_type"])
    column = table.column(0)
    if str(column.type).startswith("struct"):
        column = pc.struct_field(column, "task_type")
    return {str(v) for v in pc.unique(column).to_pylist() if v is not None}


REFERENCE_CHECK_ROWS = 64  # rows per data file whose reference answer every run scores before Ray starts


@dataclass
class ReferenceCheck:
    """What the reference-answer check found: the score of every reference answer it built (the dry run reports
    them instead of scoring again) and the problems."""

    scores: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def reference_answer_problems(config: DictConfig, rows_per_file: int = REFERENCE_CHECK_ROWS) -> list[str]:
    """The problems of ``check_reference_answers``."""
    return check_reference_answers(config, rows_per_file).problems


def check_reference_answers(config: DictConfig, rows_per_file: int = REFERENCE_CHECK_ROWS) -> ReferenceCheck:
    """Score a correct answer built from each of a sample of rows of every train/val file with the configured
    reward kwargs; a row whose reference answer does not score acc = 1 means the data and the reward disagree
    (e.g. a Qwen3-VL preset reading 0-1000 boxes on pixel-box data scored every obedient answer 0). Runs on
    every start, dry or real: reads only the small columns of a few evenly spaced row groups, no images."""
    import pyarrow.parquet as pq
    from pyarrow import ArrowException

    from reward_fns import compute_score, reference_response
    from reward_fns.reference import option_reference_response

    kwargs = OmegaConf.select(config, verl_compat.REWARD_FN_KEY + ".reward_kwargs")
    # cast: to_container is annotated with every container kind; the reward kwargs node is a DictConfig
    plain = (
        cast(dict[str, Any], OmegaConf.to_container(kwargs, resolve=True)) if OmegaConf.is_config(kwargs) else kwargs
    )
    kwargs = dict(plain or {})
    configured_box = kwargs.get("box_format")
    checked = ReferenceCheck()
    problems = checked.problems
    for key in ("data.train_files", "data.val_files"):
        for path in as_list(OmegaConf.select(config, key)):
            try:
                rows = _sample_rows(pq.ParquetFile(os.path.expanduser(path)), rows_per_file)
            except (OSError, ValueError, ArrowException) as err:  # say so here, not inside a Ray worker
                problems.append(f"{key}: {path}: cannot read ({type(err).__name__}: {err})")
                continue
            for row in rows:
                info, gt = row.get("extra_info") or {}, (row.get("reward_model") or {}).get("ground_truth")
                where = f"{key}: {path} row {info.get('index')!r} ({info.get('task_type')}, ground_truth={gt!r})"
                if (
                    info.get("task_type") == TaskType.GROUNDING
                    and configured_box
                    and configured_box != info.get("box_format")
                ):
                    problems.append(
                        f"{where}: med.reward.box_format={configured_box} contradicts the row's box_format="
                        f"{info.get('box_format')}: the model preset reads boxes as {configured_box}, the data asks "
                        f"for {info.get('box_format')}. Prepare the data in the model's convention "
                        f"(python -m data_preprocess.grounding --box_format {configured_box} ...)"
                    )
                    break
                think = str(kwargs.get("think", "required"))
                result = compute_score(row.get("data_source"), reference_response(gt, info, think), gt, info, **kwargs)
                checked.scores.append(float(result["score"]))
                if result["acc"] != 1.0:
                    problems.append(
                        f"{where}: its reference answer scores {result}; the reward and the data "
                        "disagree (labels, task_type, box_format or reward kwargs)"
                    )
                    break
                option = option_reference_response(gt, info, think)  # the answer by option token scores too
                if option is not None and compute_score(row.get("data_source"), option, gt, info, **kwargs)["acc"] != 1:
                    problems.append(
                        f"{where}: the answer by its option token {option!r} does not score; the "
                        "option style and the label spellings collide"
                    )
                    break
    return checked


def _sample_rows(parquet: Any, n: int) -> list[dict]:
    """Up to ``n`` rows (without images) from evenly spaced row groups of an open ``pyarrow.parquet.ParquetFile``."""
    groups = parquet.metadata.num_row_groups
    picks = sorted({round(i * (groups - 1) / max(1, min(n, groups) - 1)) for i in range(min(n, groups))})
    per_group = max(1, -(-n // max(1, len(picks))))
    columns = [c for c in ("data_source", "reward_model", "extra_info") if c in parquet.schema_arrow.names]
    rows: list[dict] = []
    for g in picks:
        rows += parquet.read_row_group(g, columns=columns).slice(0, per_group).to_pylist()
    return rows[:n]


def missing_data_files(config: DictConfig) -> list[str]:
    return [
        f"{key}: {path} does not exist. {_prepare_hint(config)}"
        for key in ("data.train_files", "data.val_files")
        for path in as_list(OmegaConf.select(config, key))
        if not Path(os.path.expanduser(path)).is_file()
    ]


def check_data_files(config: DictConfig) -> None:
    """``data.train_files``/``data.val_files`` exist; one ``ConfigError`` naming each missing file."""
    problems = missing_data_files(config)
    if problems:
        raise ConfigError("\n  - ".join(["invalid config:"] + problems))


def _prepare_hint(config: DictConfig) -> str:
    dataset = str(OmegaConf.select(config, "med.dataset") or "")
    out = OmegaConf.select(config, "med.data_dir")
    if dataset in MEDMNIST_2D:
        return (
            f"Prepare it with: python -m data_preprocess.medmnist --dataset {dataset} --size 224 "
            f"--output_dir {out}/{dataset}"
        )
    from data_preprocess.vqa import benchmark_names  # only on this error path: it imports every reader

    if dataset in benchmark_names():
        return (
            f"Prepare it with: python -m data_preprocess.vqa --benchmark {dataset} --input <the downloaded "
            f"release, see docs/vqa.md> --output_dir {out}/{dataset}"
        )
    return (
        f"med.dataset={dataset!r} is not a MedMNIST 2D dataset ({', '.join(MEDMNIST_2D)}); for your own "
        f"task run: python -m data_preprocess.folder --card <task.yaml> --image_dir <folder-per-class> "
        f"--output_dir {out}/{dataset}"
    )
