"""The zoom warm start: a tiny Qwen2.5-VL (random weights, real tokenizer and processor) taught one zoom trace of a
BUSI-layout grounding row until greedy decoding emits a zoom call verl's hermes parser reads.

Shared by ``test_zoom_warm_start.py`` (the call is emitted, parsed, run by verl's tool code and scored) and the
GRPO run through verl's tool agent loop in ``test_cpu_e2e.py``. The training (a plain torch loop over verl's own
``MultiTurnSFTDataset`` items, ~5-14 min on 2 cores) is memoised in pytest's cache under a key of everything it
reads: the initial weights, the trace's token ids, loss mask and pixels, the settings below, the torch version and
this file. Same inputs, same trained weights; any change retrains."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixtures_data import write_busi_like_folder
from fixtures_model import build_tiny_qwen_vl_dir
from omegaconf import OmegaConf

from data_preprocess import grounding as loc
from data_preprocess import sft

# The tiny processor's budget (fixtures_model: 28 px per token, at most 56 * 56 * 4 pixels) and one 4-token crop.
TOOL_CONFIG = {
    "class_name": "verl_med_plugin.tools.zoom.ZoomTool",
    "config": {
        "type": "native",
        "box_format": "abs",
        "max_calls": 1,
        "factor": 28,
        "min_pixels": 784,
        "max_pixels": 12544,
        "zoom_max_pixels": 3136,
    },
}
# The reward's frame for these boxes (must equal the tool's: verl-med's pre-flight check compares them).
REWARD_FRAME = {"image_factor": 28, "min_pixels": 784, "max_pixels": 12544}
MAX_STEPS, CHECK_EVERY, LR, SEED = 400, 50, 2e-3, 0
TEMPLATE = "qwen2_5_vl"


@dataclass
class WarmStart:
    """What the warm start leaves: the trained model folder, the tool yaml, the RL rows and the memorised trace."""

    model: Path  # HF folder (weights, tokenizer, processor)
    tool_yaml: Path
    rl_dir: Path  # the grounding converter's <split>.parquet
    trace: dict[str, Any]  # the memorised SFT row (messages, images)
    steps: int  # optimizer steps the training took (0 when read from the cache)


def prepare(root: Path) -> tuple[Path, Path, Path, Path]:
    """The initial model, the tool yaml, the RL rows and the zoom SFT traces (converted by our own converters)."""
    model_dir = build_tiny_qwen_vl_dir(root / "model_init", weights=True)
    tool_yaml = root / "zoom_tiny.yaml"
    OmegaConf.save(OmegaConf.create({"tools": [TOOL_CONFIG]}), tool_yaml)
    samples = loc.read_mask_folder(write_busi_like_folder(root / "busi"))
    loc.convert(samples, root / "rl", name="busi", box_format="abs", progress=False)
    written = sft.convert(root / "rl", zoom_tool=str(tool_yaml), progress=False)
    return model_dir, tool_yaml, root / "rl", written["sft_zoom_train.parquet"]


def trace_items(model_dir: Path, traces: Path) -> tuple[list[dict[str, Any]], list[Any], Any, Any]:
    """The first two-image trace as verl's ``MultiTurnSFTDataset`` item (with verl-med's chat template)."""
    from verl_med_plugin import verl_compat
    from verl_med_plugin.med_settings import chat_template_text

    tokenizer, processor = verl_compat.load_tokenizer_and_processor(str(model_dir))
    tokenizer.chat_template = processor.chat_template = chat_template_text(TEMPLATE)
    config = OmegaConf.create({"max_length": 2048, "pad_mode": "no_padding", "truncation": "error"})
    dataset = verl_compat.create_sft_dataset(str(traces), config, tokenizer, processor)
    rows = dataset.dataframe.to_dict("records") if hasattr(dataset.dataframe, "to_dict") else list(dataset.dataframe)
    traced = [i for i in range(len(dataset)) if len(rows[i]["images"]) == 2][:1]  # one trace, memorised
    assert len(traced) == 1
    return [rows[traced[0]]], [dataset[traced[0]]], tokenizer, processor


def prompt_inputs(trace: dict[str, Any], processor, tool_yaml: Path) -> Any:
    """The trace's prompt (image, question, tool list) as the tool agent loop renders it for generation."""
    from verl.utils.dataset.vision_utils import process_image

    from verl_med_plugin import verl_compat

    (tool,) = verl_compat.load_tools(str(tool_yaml))
    schemas = [tool.tool_schema.model_dump(exclude_unset=True, exclude_none=True)]
    image = process_image(dict(trace["images"][0]), image_patch_size=14)
    user = next(m for m in trace["messages"] if m["role"] == "user")
    text = user["content"].replace("<image>", "")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    prompt = processor.apply_chat_template(messages, tools=schemas, add_generation_prompt=True, tokenize=False)
    return processor(text=[prompt], images=[image], return_tensors="pt"), image


def greedy_text(model, inputs, tokenizer, max_new_tokens: int = 60) -> str:
    import torch

    model.eval()
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    model.train()
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=False)


def parsed_calls(text: str, tokenizer, tool_yaml: Path) -> list[Any]:
    """The calls verl's hermes tool parser reads from a decoded response."""
    import asyncio

    from verl.experimental.agent_loop.tool_parser import ToolParser

    from verl_med_plugin import verl_compat

    (tool,) = verl_compat.load_tools(str(tool_yaml))
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    parser = ToolParser.get_tool_parser("hermes", tokenizer)
    return asyncio.run(parser.extract_tool_calls(ids, [tool.tool_schema]))[1]


def _key(model_dir: Path, items: list[dict[str, Any]]) -> str:
    import torch

    digest = hashlib.sha256()
    digest.update((model_dir / "model.safetensors").read_bytes())
    for item in items:
        for name in ("input_ids", "loss_mask"):
            digest.update(item[name].numpy().tobytes())
        digest.update(item["multi_modal_inputs"]["pixel_values"].numpy().tobytes())
    settings = [MAX_STEPS, CHECK_EVERY, LR, SEED, TEMPLATE, TOOL_CONFIG, torch.__version__]
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:20]


def warm_start_cache(config: Any) -> Path | None:
    """pytest's cache folder for the trained weights (``request.config``; None when the cache plugin is off)."""
    cache = getattr(config, "cache", None)
    return Path(cache.mkdir("verl_med_zoom_warm_start")) if cache is not None else None


def warm_start(root: Path, cache: Path | None = None) -> WarmStart:
    """Train (or read from ``cache``) the warm-started model; ``root`` gets the data, ``root/model`` the model."""
    import torch
    from transformers import AutoModelForImageTextToText

    root.mkdir(parents=True, exist_ok=True)
    model_init, tool_yaml, rl_dir, traces = prepare(root)
    rows, items, tokenizer, processor = trace_items(model_init, traces)
    out = root / "model"
    cached = cache / _key(model_init, items) if cache is not None else None
    if cached is not None and (cached / "model.safetensors").is_file():
        shutil.copytree(cached, out, dirs_exist_ok=True)
        return WarmStart(out, tool_yaml, rl_dir, rows[0], 0)

    torch.manual_seed(SEED)
    model = AutoModelForImageTextToText.from_pretrained(model_init, dtype=torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    inputs, _ = prompt_inputs(rows[0], processor, tool_yaml)
    steps = 0
    for steps in range(1, MAX_STEPS + 1):
        item = items[steps % len(items)]
        ids = item["input_ids"].unsqueeze(0)
        labels = torch.where(item["loss_mask"].bool(), item["input_ids"], torch.tensor(-100)).unsqueeze(0)
        mm = item["multi_modal_inputs"]
        loss = model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            pixel_values=mm["pixel_values"],
            image_grid_thw=mm["image_grid_thw"],
            labels=labels,
        ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if steps % CHECK_EVERY == 0 and parsed_calls(greedy_text(model, inputs, tokenizer), tokenizer, tool_yaml):
            break
    shutil.copytree(model_init, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.safetensors"))
    model.save_pretrained(out)
    if cached is not None:  # atomically: a half-written cache entry is never read
        tmp = cached.with_name(cached.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(out, tmp)
        shutil.rmtree(cached, ignore_errors=True)
        tmp.rename(cached)
    return WarmStart(out, tool_yaml, rl_dir, rows[0], steps)
