"""Shared helpers of the knowledge / chat-template / sampler / trainer tests (issue #5).

Model directories come in both families (Qwen2.5-VL, Qwen3-VL) and load through verl's ``HFModelConfig`` (what the
trainer and the agent loop build). Built once per session.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from fixtures_data import RETINA_KNOWLEDGE, RETINA_LABELS, VRFT_INSTRUCTION, png_bytes, synthetic_images
from fixtures_model import build_tiny_qwen_vl_dir

RETINA_QUESTION = "What is the diabetic retinopathy grade of this fundus image?"
GROUNDING_QUESTION = "Where is the lesion in this image?"
FAMILIES = ("qwen2_5_vl", "qwen3_vl")


@functools.cache
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="verl_med_perception_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@functools.cache
def model_dir(family: str) -> Path:
    """A weight-free model directory of ``family`` with the real Qwen BPE tokenizer and processor."""
    return build_tiny_qwen_vl_dir(_root() / family, family=family)


def classification_row(i: int, *, option_style: str = "none", prompt_text: str | None = None, size: int = 56):
    from data_preprocess.schema import make_extra_info, make_row

    info = make_extra_info(split="train", index=i, dataset="retinamnist", task_type="ordinal", labels=RETINA_LABELS,
                           option_style=option_style, question=RETINA_QUESTION, knowledge=RETINA_KNOWLEDGE,
                           template="vrft", image_size=[size, size])
    text = prompt_text if prompt_text is not None else "<image>" + RETINA_QUESTION + VRFT_INSTRUCTION
    image = synthetic_images(1, size=size, seed=i)[0]
    return make_row(dataset="retinamnist", prompt_text=text, image_bytes=[png_bytes(image)],
                    ground_truth=RETINA_LABELS[i % len(RETINA_LABELS)], extra_info=info)


def grounding_row(i: int, size: int = 56):
    from data_preprocess.schema import make_extra_info, make_row

    info = make_extra_info(split="train", index=i, dataset="lesions", task_type="grounding",
                           question=GROUNDING_QUESTION, knowledge="Lesions are bright round blobs.", template="vrft",
                           image_size=[size, size])
    image = synthetic_images(1, size=size, seed=100 + i)[0]
    return make_row(dataset="lesions", prompt_text="<image>" + GROUNDING_QUESTION + VRFT_INSTRUCTION,
                    image_bytes=[png_bytes(image)], ground_truth=[[10, 10, 30, 30]], extra_info=info)


def write_rows(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from data_preprocess.schema import arrow_schema

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema()), path)
    return path


@functools.cache
def _composed(overrides: tuple[str, ...]):
    from hydra import compose, initialize_config_module

    with initialize_config_module("verl_med_plugin.configs", version_base=None):
        return compose("med_grpo", overrides=list(overrides))


def compose_med_config(*overrides: str):
    """``configs/med_grpo.yaml`` composed as ``python -m verl_med_plugin.main`` does."""
    import copy

    return copy.deepcopy(_composed(overrides))


def run_med_main(*args: str, env: dict[str, str] | None = None):
    """``python -m verl_med_plugin.main ARGS`` as a user runs it (a ``CompletedProcess`` with text output)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "verl_med_plugin.main", *args], env=env,
                          check=False, capture_output=True, text=True, timeout=600)
