"""Checks of the composed config as a whole, run first by the entry point (before Ray, before any other check):
every interpolation resolves, and every value has the type of its default.

Hydra accepts any override of a key that exists (``data.train_batch_size=abc``, ``med.dry_run_rows=abc``) and any
interpolation (``${oc.env:UNSET}``); without these checks the first reader of the value fails with a raw verl or
OmegaConf traceback, possibly after Ray started. One layer here instead of one check per key: the defaults
(``configs/med_grpo.yaml`` over verl's ``ppo_trainer``) say what each value must be.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from reward_fns.task_type import TaskType
from verl_med_plugin.checks.values import as_list, plain

CONFIG_MODULE, CONFIG_NAME = "verl_med_plugin.configs", "med_grpo"


def composed_config_problems(config: DictConfig) -> list[str]:
    """Unresolvable interpolations, then values whose type differs from their default's; each names the key."""
    try:
        OmegaConf.to_container(config, resolve=True, throw_on_missing=False)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        reason = str(getattr(err, "msg", err)).splitlines()[0]
        return [f"{key}={_raw_value(config, key)!r}: cannot resolve the interpolation ({reason})"]
    try:
        defaults = default_leaves()
    except (HydraException, OmegaConfBaseException, ValueError, OSError):  # another config tree (--config-path)
        return []
    return type_problems(config, defaults)


def _raw_value(config: DictConfig, key: str) -> Any:
    """The unresolved text of ``key`` (``${oc.env:UNSET}``), for the message."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(config, parent_key, throw_on_resolution_failure=False) if parent_key else config
    node = parent._get_node(leaf) if isinstance(parent, DictConfig) and leaf in parent else None
    return node._value() if node is not None else None


@functools.cache
def default_leaves() -> dict[str, Any]:
    """Every literal bool/int/float default of the entry point's config, by dotted key (composed once)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside @hydra.main or a test's initialize_config_module
        defaults = compose(CONFIG_NAME)
    else:
        with initialize_config_module(CONFIG_MODULE, version_base=None):
            defaults = compose(CONFIG_NAME)
    leaves: dict[str, Any] = {}
    _collect(OmegaConf.to_container(defaults, resolve=False), "", leaves)
    return leaves


def _collect(node: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _collect(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(node, (bool, int, float)):  # strings (incl. interpolations), lists and nulls say too little
        out[prefix] = node


def _expected(default: Any) -> str:
    return "true or false" if isinstance(default, bool) else "a finite number"


def _fits(value: Any, default: Any) -> bool:
    """The value's kind matches its default's. Numbers are not split into int and float: verl's yaml writes some
    float settings as integers (``entropy_coeff: 0``, ``top_p: 1``); its own validation checks finer ranges."""
    if value is None:  # verl treats null as "not set" for many numeric keys
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def type_problems(config: DictConfig, defaults: dict[str, Any]) -> list[str]:
    """``key=value: expected <type> (default <d>)`` for each value whose type does not fit its default's."""
    problems = []
    for key, default in defaults.items():
        value = OmegaConf.select(config, key, default=_MISSING)
        if value is _MISSING or isinstance(value, (DictConfig, ListConfig)):
            continue
        if not _fits(value, default):
            problems.append(f"{key}={value!r}: expected {_expected(default)} (default {default!r})")
    return problems


_MISSING = object()


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
