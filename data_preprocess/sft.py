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

Zoom warm start (``--zoom_tool qwen2_5_vl|qwen3_vl|<tool yaml>``, docs/tools.md): ``sft_zoom_<split>.parquet``
where every row with a lesion box (a grounding row's ground truth, or ``extra_info.lesion_boxes``) becomes the
trace the zoom policy should produce: a think block and a ``zoom_in`` call on the lesion box in the model's
convention, the tool's turn with the crop the tool itself returns (second image), then the reference reply; rows
without a lesion box keep the one-turn reply (answering without the tool is a valid policy). A ``tools`` column
holds the tool's schema, so verl's SFT dataset renders the tool list exactly as the tool agent loop does.
"""

from __future__ import annotations

import argparse
import io
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


ZOOM_THINK = "I zoom in on the lesion to see it in detail."


def zoom_schema_of(tool: str) -> tuple[Any, dict[str, Any]]:
    """``(ZoomSettings, tool schema)`` of ``--zoom_tool``: a chat template name (the shipped yaml) or a yaml path."""
    from verl_med_plugin.tools.settings import shipped_tool_config, zoom_settings_of
    from verl_med_plugin.tools.zoom import zoom_schema

    path = shipped_tool_config("zoom", tool) if tool in ("qwen2_5_vl", "qwen3_vl") else Path(tool).expanduser()
    if not Path(path).is_file():
        raise ConversionError(f"--zoom_tool {tool}: no such tool yaml (qwen2_5_vl, qwen3_vl or a path)")
    try:
        settings = zoom_settings_of(path)
    except (ValueError, TypeError) as err:
        raise ConversionError(f"--zoom_tool {path}: {err}") from err
    if settings is None:
        raise ConversionError(f"--zoom_tool {path}: declares no zoom tool")
    return settings, zoom_schema(settings)


def zoom_call_box(lesion: list[float], info: dict[str, Any], settings: Any) -> list[Any]:
    """The lesion box (the row's ``box_format``) in the tool's convention, rounded: the box the trace zooms to."""
    from reward_fns.boxes import convert_boxes
    from verl_med_plugin.tools.crop import frame_size

    size = tuple(int(v) for v in info["image_size"])
    src_size = size if info["box_format"] == "abs" else None
    dst_size = frame_size(settings, (size[0], size[1])) if settings.box_format == "abs" else None
    converted = convert_boxes([lesion], info["box_format"], src_size, settings.box_format, dst_size)
    if converted is None:
        raise ValueError(f"lesion box {lesion} in {info['box_format']!r} without extra_info.image_size")
    digits = 3 if settings.box_format == "rel1" else None  # pixels and the 0-1000 grid are written as integers
    return [round(v, digits) if digits else round(v) for v in converted[0]]


def zoom_trace(sft: dict[str, Any], row: dict[str, Any], settings: Any) -> dict[str, Any] | None:
    """``sft`` (``sft_row``'s prompt + reply) as a zoom trace on the row's first lesion box; None without one (or
    when the tool would refuse the box)."""
    from reward_fns.task_info import TaskInfo
    from reward_fns.zoom import TOOL_NAME, lesion_boxes
    from verl_med_plugin.tools.crop import zoom

    from .common import encode_png, open_image

    info = row["extra_info"]
    lesions = lesion_boxes(row["reward_model"]["ground_truth"], TaskInfo.from_extra_info(info), info)
    if not lesions or len(row["images"]) != 1:
        return None
    image = open_image(io.BytesIO(row["images"][0]["bytes"]))
    box = zoom_call_box(lesions[0], {**info, "image_size": list(image.size)}, settings)
    crop, _ = zoom(image, {"bbox_2d": box}, settings)
    if crop is None:
        return None
    call = json.dumps({"name": TOOL_NAME, "arguments": {"bbox_2d": box}})
    *prompt, reply = sft["messages"]
    turns = [
        {"role": "assistant", "content": f"<think>{ZOOM_THINK}</think>\n<tool_call>\n{call}\n</tool_call>"},
        {"role": "tool", "content": "<image>"},
        reply,
    ]
    images = [*row["images"], {"bytes": encode_png(crop), "path": None}]
    return {"messages": [*prompt, *turns], "images": images}


def zoom_sft_schema(tool_schema: dict[str, Any]) -> pa.Schema:
    """``sft_schema`` plus the ``tools`` column (the tool's schema as verl's SFT dataset passes it to the template)."""
    tools_type = pa.Table.from_pylist([{"tools": [tool_schema]}]).schema.field("tools").type
    return sft_schema().append(pa.field("tools", tools_type))


def convert(
    input_dir: Path | str,
    output_dir: Path | str | None = None,
    *,
    think: str | None = None,
    think_source: str = "neutral",
    zoom_tool: str | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """``sft_<split>.parquet`` (``sft_zoom_<split>.parquet`` with ``zoom_tool``) for each ``<split>.parquet`` in
    ``input_dir``; streams row groups."""
    if think_source not in THINK_SOURCES:
        raise ConversionError(f"--think {think_source!r}: expected one of {THINK_SOURCES}")
    zoom_settings, tool_schema = zoom_schema_of(zoom_tool) if zoom_tool else (None, None)
    prefix = "sft_zoom_" if zoom_tool else "sft_"
    schema = zoom_sft_schema(tool_schema) if tool_schema else sft_schema()
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
            sink = outputs.open(f"{prefix}{source.name}", schema, may_be_empty=True)  # mirrors its source
            bar = tqdm(total=reader.metadata.num_rows, desc=f"sft {source.stem}", unit="row", disable=not progress)
            n_read = 0
            for batch in reader.iter_batches(
                batch_size=BATCH_ROWS, columns=["prompt", "images", "reward_model", "extra_info"]
            ):
                for row in batch.to_pylist():
                    try:
                        out = sft_row(row, think, think_source)
                        if zoom_settings is not None:
                            out = {**(zoom_trace(out, row, zoom_settings) or out), "tools": [tool_schema]}
                        sink.write(out)
                    except (KeyError, TypeError, ValueError) as err:  # JSONDecodeError is a ValueError
                        raise ConversionError(
                            f"{source}: row {n_read}: reward_model.ground_truth / extra_info do "
                            f"not follow data_preprocess.schema ({type(err).__name__}: {err})"
                        ) from err
                    n_read += 1
                bar.update(batch.num_rows)
            bar.close()
    return {f"{prefix}{s.name}": output_dir / f"{prefix}{s.name}" for s in sources}


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
    parser.add_argument(
        "--zoom_tool",
        default=None,
        help="write zoom warm-start traces (sft_zoom_<split>.parquet) for this tool: qwen2_5_vl, qwen3_vl (the "
        "shipped tool yaml of that template) or a tool yaml path",
    )
    args = parser.parse_args(argv)
    for path in convert(
        args.input_dir, args.output_dir, think=args.think_text, think_source=args.think_source, zoom_tool=args.zoom_tool
    ).values():
        print(path)


if __name__ == "__main__":
    run_cli(main)
