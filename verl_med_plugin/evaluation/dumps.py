"""Read verl's generation dumps (and offline-generation JSONL) into records, and find each record's extra_info.

What verl 0.9.1 writes (``PPOTrainer._write_generations`` in ``verl/trainer/ppo/v1/trainer_base.py``; the same
in the legacy ``ray_trainer.py``): one file ``<dir>/<global_step>.jsonl`` per dump, one JSON object per response:

- ``input``: the prompt decoded with ``skip_special_tokens=True`` (chat template text; image pads removed),
- ``output``: the decoded response, ``gts``: ``reward_model.ground_truth``, ``score``: the summed token rewards,
- ``step``: the global step, then every per-sample list of ``reward_extra_info``:
  - ``trainer.validation_data_dir`` (v1 trainer): ``reward`` (= score), each key of ``compute_score``'s dict
    (``acc``, ``format``, ``pred``, ...) and ``uid`` = ``"{prompt uuid}_{session}_{output index}"``;
  - ``trainer.rollout_data_dir`` (v1 trainer): ``uid`` only;
  - legacy trainer (``trainer.use_v1=false``): validation has the reward keys but no ``uid``.

No dump has ``data_source`` or ``extra_info`` (label names, task type), and the prompt uuid is random, so a
record finds its extra_info (first match wins): its own ``extra_info`` field (offline-generation JSONL); the
prepared parquet row with the same ``sample_id`` (``"{dataset}/{split}/{index}"``) if the reward writes that
key; else the parquet rows whose ``extra_info.question`` (or, without one, whole user text) occurs in ``input``
-- the question, because the dataset class may insert knowledge or a class list around it. Those rows must
agree on the label metadata and include the record's ground truth; MedMNIST rows of one dataset share their
question, so this identifies the dataset, not the image.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_preprocess.common import UserError
from reward_fns.task_type import TaskType
from verl_med_plugin.evaluation.records import ProblemSummary

# Record keys the reader consumes; every other key of a dump line is a reward field (score, acc, pred, ...).
RESPONSE_KEYS = ("output", "response")
GROUND_TRUTH_KEYS = ("gts", "ground_truth")
PROMPT_KEYS = ("input", "prompt")
CONSUMED_KEYS = {
    *RESPONSE_KEYS,
    *GROUND_TRUTH_KEYS,
    *PROMPT_KEYS,
    "step",
    "uid",
    "prompt_id",
    "data_source",
    "extra_info",
    "sample",
}
# Extra_info fields that must agree among parquet rows sharing one prompt text (the parser and metrics read them).
LABEL_METADATA = ("dataset", "task_type", "labels", "label_aliases", "option_style", "box_format")
# VQA rows also need their options (the parser reads them) and the groups the metrics are reported by.
VQA_METADATA = ("options", "modality", "question_type")
_VERL_KEY = re.compile(r"^(?P<prompt>.+)_(?P<session>\d+)_(?P<index>\d+)$")
_PLACEHOLDER = re.compile(r"<image>|<video>|<audio>")
MAX_EXAMPLES = 3
# Problem kinds whose record is still evaluated (every other kind is a skipped record).
KEPT_KINDS = ("non_finite_score",)


class EvalDataError(UserError):
    """The input cannot be evaluated as given; the message names the file, line and field."""


class Problems:
    """Counted record-level problems: each record skipped is counted by kind, with a few examples.

    ``strict`` turns the first problem into an ``EvalDataError``.
    """

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)

    def add(self, kind: str, message: str) -> None:
        if self.strict:
            raise EvalDataError(f"{kind}: {message}")
        self.counts[kind] += 1
        if len(self.examples[kind]) < MAX_EXAMPLES:
            self.examples[kind].append(message)

    def as_dict(self) -> dict[str, ProblemSummary]:
        return {kind: {"count": n, "examples": self.examples[kind]} for kind, n in sorted(self.counts.items())}


@dataclass
class Record:
    """One response with what is needed to score it."""

    origin: str  # "file:line"
    response: str
    ground_truth: str
    step: int | None = None
    prompt_id: str | None = None  # groups the samples of one prompt (GRPO group / mean@k)
    sample_index: int | None = None  # the sample's number within its prompt ("sample", or verl's uid suffix)
    prompt_text: str | None = None
    data_source: str | None = None
    extra_info: dict[str, Any] | None = None
    rewards: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset(self) -> str:
        dataset = (self.extra_info or {}).get("dataset") or ""
        if not dataset and self.data_source:
            dataset = self.data_source.split("/", 1)[-1]
        return str(dataset)


def sample_id(extra_info: dict[str, Any]) -> str:
    """Stable id of a prepared row: what a reward may write as ``sample_id`` so dumps join back exactly."""
    return f"{extra_info.get('dataset', '')}/{extra_info.get('split', '')}/{extra_info.get('index', '')}"


def dump_files(path: Path) -> list[Path]:
    """``path`` itself, or the ``*.jsonl`` files of a dump directory ordered by step (verl names them ``<step>``)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise EvalDataError(f"{path}: no such file or directory")

    def order(p: Path) -> tuple[bool, int, str]:
        return (not p.stem.isdigit(), int(p.stem) if p.stem.isdigit() else 0, p.name)

    files = sorted(path.glob("*.jsonl"), key=order)
    if not files:
        raise EvalDataError(f"{path}: no *.jsonl files (expected verl's <step>.jsonl dumps)")
    return files


def _first(obj: dict, keys: Iterable[str]) -> Any:
    return next((obj[k] for k in keys if obj.get(k) is not None), None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class MalformedLine(EvalDataError):
    """A line that is JSON but not a usable dump line (a field of the wrong type); counted like bad JSON."""


def _step(obj: dict[str, Any], origin: str, default_step: int | None) -> int | None:
    """The line's global step as an int: verl writes an int; an integral float or a digit string (another writer)
    is read as that int, so steps of mixed types still sort; anything else is a malformed line."""
    value = obj.get("step", default_step)
    if value is None or (type(value) is int and value >= 0):
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value < 1e15:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 16:
        return int(value.strip())
    shown = repr(value)[:80] if isinstance(value, (str, int, float)) else f"a JSON {type(value).__name__}"
    raise MalformedLine(f"{origin}: field 'step' is {shown}, expected an integer >= 0")


def parse_line(obj: dict[str, Any], origin: str, default_step: int | None) -> Record:
    """A ``Record`` from one decoded dump line; ``EvalDataError`` names a missing field (``MalformedLine`` a field
    of the wrong type)."""
    response = _first(obj, RESPONSE_KEYS)
    if response is None:
        raise EvalDataError(f"{origin}: missing field 'output' (the response; 'response' also accepted)")
    ground_truth = _first(obj, GROUND_TRUTH_KEYS)
    if ground_truth is None:
        raise EvalDataError(f"{origin}: missing field 'gts' (the ground truth; 'ground_truth' also accepted)")
    extra_info = obj.get("extra_info")
    if extra_info is not None and not isinstance(extra_info, dict):
        raise MalformedLine(f"{origin}: field 'extra_info' is {type(extra_info).__name__}, expected an object")
    data_source = obj.get("data_source")
    if data_source is not None and not isinstance(data_source, str):
        raise MalformedLine(f"{origin}: field 'data_source' is {type(data_source).__name__}, expected a string")
    prompt_text = _first(obj, PROMPT_KEYS)
    record = Record(
        origin=origin,
        response=_text(response),
        ground_truth=_text(ground_truth),
        step=_step(obj, origin, default_step),
        prompt_text=None if prompt_text is None else _text(prompt_text),
        data_source=data_source,
        extra_info=extra_info,
        rewards={k: v for k, v in obj.items() if k not in CONSUMED_KEYS},
    )
    if obj.get("prompt_id") is not None:
        record.prompt_id = str(obj["prompt_id"])
    elif obj.get("uid") is not None:
        match = _VERL_KEY.match(str(obj["uid"]))
        record.prompt_id = match["prompt"] if match else str(obj["uid"])
        record.sample_index = int(match["session"]) if match else None  # one session per sample of the group
    sample = obj.get("sample")
    if isinstance(sample, int) and not isinstance(sample, bool):
        record.sample_index = sample
    elif isinstance(record.rewards.get("sample_id"), str):
        record.prompt_id = record.rewards["sample_id"]
    elif extra_info is not None and "index" in extra_info:
        record.prompt_id = sample_id(extra_info)
    return record


def _final_outputs(objs: list[tuple[dict, str]]) -> list[tuple[dict, str]]:
    """verl keys multi-output sessions ``{uid}_{session}_{index}``; only the last output of a session is scored."""
    last: dict[str, int] = {}
    for obj, _ in objs:
        match = _VERL_KEY.match(str(obj.get("uid", "")))
        if match:
            key = f"{match['prompt']}_{match['session']}"
            last[key] = max(last.get(key, -1), int(match["index"]))
    kept = []
    for obj, origin in objs:
        match = _VERL_KEY.match(str(obj.get("uid", "")))
        if not match or int(match["index"]) == last[f"{match['prompt']}_{match['session']}"]:
            kept.append((obj, origin))
    return kept


def _decode(raw: bytes, origin: str) -> str:
    """One line as text; a line that is not UTF-8 is one malformed line, not a lost evaluation."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise MalformedLine(
            f"{origin}: not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start})"
        ) from None


def _load(text: str, origin: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise MalformedLine(f"{origin}: not JSON ({err.msg})") from None
    except RecursionError:
        raise MalformedLine(f"{origin}: JSON nested too deeply to read") from None


def non_finite_fields(record: Record) -> list[str]:
    """Reward fields of the record holding NaN or an infinity (JSON has no such numbers; Python writes them)."""
    return [k for k, v in record.rewards.items() if isinstance(v, float) and not math.isfinite(v)]


def read_file(file: Path, problems: Problems) -> list[Record]:
    """The records of one JSONL file. Lines that are not UTF-8, not JSON (or nested too deeply), not an object, or
    hold a field of the wrong type are counted in ``problems`` as ``malformed_line``, records without a needed
    field as ``missing_field``; records with a NaN/infinite reward are kept and counted as ``non_finite_score``."""
    default_step = int(file.stem) if file.stem.isdigit() and len(file.stem) < 16 else None
    objs = []
    with open(file, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            origin = f"{file}:{line_no}"
            try:
                obj = _load(_decode(raw, origin).removeprefix("\ufeff"), origin)
            except MalformedLine as err:
                problems.add("malformed_line", str(err))
                continue
            if not isinstance(obj, dict):
                problems.add("malformed_line", f"{origin}: a JSON {type(obj).__name__}, expected an object")
                continue
            objs.append((obj, origin))
    records = []
    for obj, origin in _final_outputs(objs):
        try:
            record = parse_line(obj, origin, default_step)
        except MalformedLine as err:
            problems.add("malformed_line", str(err))
            continue
        except EvalDataError as err:
            problems.add("missing_field", str(err))
            continue
        bad = non_finite_fields(record)
        if bad:
            problems.add(
                "non_finite_score",
                f"{origin}: {', '.join(f'{k}={record.rewards[k]}' for k in bad)} (kept; its means are written as null)",
            )
        records.append(record)
    return records


def read_records(path: Path, problems: Problems) -> list[Record]:
    """Every record of a dump file or directory (see ``read_file``)."""
    return [record for file in dump_files(path) for record in read_file(file, problems)]


def _normalise(text: str) -> str:
    return " ".join(_PLACEHOLDER.sub(" ", text).split())


def _prompt_key(row: dict[str, Any]) -> str:
    """What a row's rendered prompt must contain: the question, else the user text (placeholders removed)."""
    question = str((row.get("extra_info") or {}).get("question") or "")
    if question.strip():
        return _normalise(question)
    prompt = row.get("prompt")
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    return _normalise(" ".join(str(m.get("content", "")) for m in messages if m.get("role") == "user"))


def _signature(extra_info: dict[str, Any]) -> str:
    task_type = TaskType.parse(extra_info.get("task_type"))
    keys = (
        LABEL_METADATA
        + (("image_size",) if task_type is TaskType.GROUNDING else ())
        + (VQA_METADATA if task_type in TaskType.vqa() else ())
    )
    return json.dumps({k: extra_info.get(k) for k in keys}, sort_keys=True)


@dataclass
class _Row:
    data_source: str
    ground_truth: str
    extra_info: dict[str, Any]


class PreparedData:
    """extra_info of prepared parquet rows (the files ``data_preprocess`` writes), found by sample id or prompt."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.by_id: dict[str, _Row] = {}
        self.by_prompt: dict[str, list[_Row]] = defaultdict(list)
        for row in rows:
            info = dict(row.get("extra_info") or {})
            item = _Row(str(row.get("data_source", "")), str((row.get("reward_model") or {}).get("ground_truth")), info)
            self.by_id[sample_id(info)] = item
            self.by_prompt[_prompt_key(row)].append(item)
        # longest first: a question that contains a shorter one is the better match
        self.prompts = sorted((p for p in self.by_prompt if p), key=len, reverse=True)

    @classmethod
    def from_parquet(cls, paths: Iterable[Path]) -> PreparedData:
        import pyarrow.parquet as pq

        rows: list[dict[str, Any]] = []
        for path in paths:
            try:
                table = pq.read_table(path, columns=["data_source", "prompt", "reward_model", "extra_info"])
            except (OSError, KeyError, ValueError) as err:
                raise EvalDataError(f"{path}: not a prepared verl-med parquet ({err})") from err
            rows.extend(table.to_pylist())
        if not rows:
            raise EvalDataError("--data: the parquet files hold no rows")
        return cls(rows)

    def attach(self, record: Record, problems: Problems) -> bool:
        """Give ``record`` the extra_info (and data_source) of its parquet row; count a problem if none fits."""
        wanted_id = record.rewards.get("sample_id")
        if isinstance(wanted_id, str):
            row = self.by_id.get(wanted_id)
            if row is None:
                problems.add("unknown_sample", f"{record.origin}: sample_id {wanted_id!r} is not in the --data parquet")
                return False
            candidates = [row]
        elif record.prompt_text:
            text = _normalise(record.prompt_text)
            prompt = next((p for p in self.prompts if p in text), None)
            if prompt is None:
                problems.add("unmatched_prompt", f"{record.origin}: no --data row's question occurs in 'input'")
                return False
            candidates = self.by_prompt[prompt]
            if any(TaskType.parse(r.extra_info.get("task_type")) in TaskType.vqa() for r in candidates):
                # VQA benchmarks ask one question of many images ("Is this a CT?"): the answer narrows them down
                candidates = [r for r in candidates if r.ground_truth == record.ground_truth] or candidates
        else:
            problems.add("missing_field", f"{record.origin}: no 'input' (prompt) or 'sample_id' to join --data on")
            return False
        if len({_signature(r.extra_info) for r in candidates}) > 1:
            names = sorted({str(r.extra_info.get("dataset")) for r in candidates})
            problems.add(
                "ambiguous_prompt",
                f"{record.origin}: the prompt matches rows with different label metadata "
                f"(datasets {names}); write 'sample_id' from the reward to join exactly",
            )
            return False
        if record.ground_truth not in {r.ground_truth for r in candidates}:
            problems.add(
                "ground_truth_mismatch",
                f"{record.origin}: gts {record.ground_truth!r} is not the ground "
                "truth of any --data row with this prompt (wrong parquet?)",
            )
            return False
        record.extra_info = candidates[0].extra_info
        record.data_source = record.data_source or candidates[0].data_source
        return True
