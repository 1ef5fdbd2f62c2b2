"""SFT baseline data: the rows of any converter's RL parquet as verl SFT-trainer rows, so the paper's SFT
baseline uses exactly the samples and prompts of the RL runs: each prompt is rendered as verl-med's dataset class
renders it for the V-RFT baseline (question + class list, ``BASELINE_KNOWLEDGE``), not the raw parquet prompt.

    python -m data_preprocess.sft --input_dir ~/data/retinamnist      # -> sft_train/val/test.parquet beside

verl 0.9's SFT trainer (``verl.trainer.sft_trainer``, dataset ``MultiTurnSFTDataset``) reads a ``messages`` column
(chat turns whose string content holds one ``<image>`` per image; ``data.messages_key``) and an ``images`` column
(``{"bytes", "path"}`` items, like RLHFDataset). Each row here is the RL prompt plus one assistant turn
``<think>...</think><answer>...</answer>`` whose answer is the ground truth in the form the reward parses (label
name; comma list of names, "none", or a JSON list when a name holds a comma; JSON boxes). The think block must not
be empty (the format reward refuses an empty one). By default it is one neutral sentence (``--think neutral``), so
the SFT row is "SFT", not silently "SFT + knowledge"; ``--think knowledge`` states the knowledge-base findings of
the true class(es) (an SFT + knowledge variant), ``--think_text`` sets one fixed text. Train with e.g.
``data.train_files=.../sft_train.parquet data.val_files=.../sft_val.parquet``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from reward_fns.reference import reference_answer
from reward_fns.task_info import json_or_list
from reward_fns.task_type import TaskType
from verl_med_plugin.med_settings import KnowledgeSettings

from .cards import class_findings
from .cli import run_cli
from .common import SPLITS, ConversionError, atomic_outputs

FALLBACK_THINK = "I examine the image for the findings relevant to the question."
BATCH_ROWS = 256


def sft_schema() -> pa.Schema:
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema(
        [
            ("messages", pa.list_(message)),
            ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
        ]
    )


def think_text(ground_truth: str, extra_info: dict[str, Any]) -> str:
    """Knowledge-base findings of the true class(es), or a neutral sentence when there are none."""
    task_type, knowledge = extra_info["task_type"], extra_info.get("knowledge") or ""
    if task_type == TaskType.GROUNDING:
        return FALLBACK_THINK
    names = json.loads(ground_truth) if task_type == TaskType.MULTILABEL else [ground_truth]
    if task_type == TaskType.MULTILABEL and not names:
        return "None of the listed findings is visible."
    findings = [(name, class_findings(knowledge, name)) for name in names]
    if not all(text for _, text in findings):
        return FALLBACK_THINK
    return " ".join(f"Findings of {name}: {text}" for name, text in findings)


THINK_SOURCES = ("neutral", "knowledge")


# The V-RFT baseline's prompt (configs/med/experiment/vrft_baseline.yaml: med.knowledge): the question and the class
# list, as verl-med's dataset class renders it for the RL rows, so the SFT and RL baselines see the same prompt.
BASELINE_KNOWLEDGE = KnowledgeSettings(mode="classlist", classlist=True)


def sft_row(
    row: dict[str, Any],
    think: str | None = None,
    think_source: str = "neutral",
    knowledge: KnowledgeSettings = BASELINE_KNOWLEDGE,
) -> dict[str, Any]:
    """The RL prompt as the RL run renders it (``knowledge``: ``med.knowledge``, by default the V-RFT baseline's)
    plus the reference reply; its think block is ``think``, else neutral or the findings."""
    from verl_med_plugin.dataset import compose_messages

    gt, info = row["reward_model"]["ground_truth"], row["extra_info"]
    if info["task_type"] == TaskType.MULTILABEL and not isinstance(json_or_list(gt), list):
        raise ValueError(f"multilabel ground truth {gt!r:.80} is not a JSON list of label names")
    reasoning = think or (think_text(gt, info) if think_source == "knowledge" else FALLBACK_THINK)
    reply = f"<think>{reasoning}</think><answer>{reference_answer(gt, info)}</answer>"
    prompt = compose_messages(list(row["prompt"]), info, knowledge) if row["prompt"] else []
    return {"messages": [*prompt, {"role": "assistant", "content": reply}], "images": row["images"]}


def convert(
    input_dir: Path | str,
    output_dir: Path | str | None = None,
    *,
    think: str | None = None,
    think_source: str = "neutral",
    progress: bool = True,
) -> dict[str, Path]:
    """``sft_<split>.parquet`` for each ``<split>.parquet`` in ``input_dir``; streams row groups."""
    if think_source not in THINK_SOURCES:
        raise ConversionError(f"--think {think_source!r}: expected one of {THINK_SOURCES}")
    input_dir = Path(input_dir).expanduser()
    output_dir = Path(output_dir).expanduser() if output_dir else input_dir
    sources = [input_dir / f"{split}.parquet" for split in SPLITS if (input_dir / f"{split}.parquet").is_file()]
    if not sources:
        raise ConversionError(f"{input_dir}: no train/val/test.parquet to convert")
    with atomic_outputs(output_dir) as outputs:
        for source in sources:
            try:
                reader = pq.ParquetFile(source)
            except (OSError, pa.ArrowInvalid) as err:
                raise ConversionError(f"{source}: not a readable parquet file: {err}") from err
            missing = {"prompt", "images", "reward_model", "extra_info"} - set(reader.schema_arrow.names)
            if missing:
                raise ConversionError(f"{source}: field(s) {sorted(missing)} missing: not a verl-med RL parquet")
            sink = outputs.open(f"sft_{source.name}", sft_schema(), may_be_empty=True)  # mirrors its source
            bar = tqdm(total=reader.metadata.num_rows, desc=f"sft {source.stem}", unit="row", disable=not progress)
            n_read = 0
            for batch in reader.iter_batches(
                batch_size=BATCH_ROWS, columns=["prompt", "images", "reward_model", "extra_info"]
            ):
                for row in batch.to_pylist():
                    try:
                        sink.write(sft_row(row, think, think_source))
                    except (KeyError, TypeError, ValueError) as err:  # JSONDecodeError is a ValueError
                        raise ConversionError(
                            f"{source}: row {n_read}: reward_model.ground_truth / extra_info do "
                            f"not follow data_preprocess.schema ({type(err).__name__}: {err})"
                        ) from err
                    n_read += 1
                bar.update(batch.num_rows)
            bar.close()
    return {f"sft_{s.name}": output_dir / f"sft_{s.name}" for s in sources}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m data_preprocess.sft", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input_dir", required=True, help="folder with a converter's train/val/test.parquet")
    parser.add_argument("--output_dir", default=None, help="where sft_<split>.parquet go (default: --input_dir)")
    parser.add_argument(
        "--think",
        default="neutral",
        choices=THINK_SOURCES,
        dest="think_source",
        help="think block: one neutral sentence (default: plain SFT) or the knowledge-base findings "
        "of the true class (an SFT + knowledge variant)",
    )
    parser.add_argument("--think_text", default=None, help="fixed think text for every row (overrides --think)")
    args = parser.parse_args(argv)
    for path in convert(
        args.input_dir, args.output_dir, think=args.think_text, think_source=args.think_source
    ).values():
        print(path)


if __name__ == "__main__":
    run_cli(main)
