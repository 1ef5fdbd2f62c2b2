"""Offline test data: synthetic medical-like images and fake MedMNIST ``.npz`` files in the official layout, and the
constants the tests share (one spelling each: the repository paths, the preset groups, the RetinaMNIST fixture)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
MED_CONFIGS = REPO / "configs" / "med"  # the preset groups: experiment/, model/, hardware/


# The experiment presets of the paper's rows (configs/med/experiment/, examples/paper/).
PAPER_ROWS = ("vrft_baseline", "knowledge", "mfrs", "localization", "recite_pos", "recite_neg", "full", "no_think")
# One image in a Qwen-VL prompt after the chat template (the processor expands the pad to the image's tokens).
IMAGE_PAD = "<|vision_start|><|image_pad|><|vision_end|>"


def preset_options(group: str) -> list[str]:
    """The presets of ``configs/med/<group>/`` (``experiment``, ``model``, ``hardware``), sorted by name."""
    return sorted(p.stem for p in (MED_CONFIGS / group).glob("*.yaml"))


def synthetic_images(n: int, size: int = 28, channels: int = 3, seed: int = 0) -> np.ndarray:
    """``n`` uint8 images (N, H, W[, C]): a bright blob on noisy background, blob position varying per image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = np.empty((n, size, size) + ((channels,) if channels > 1 else ()), dtype=np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(size * 0.25, size * 0.75, 2)
        r = rng.uniform(size * 0.1, size * 0.25)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img = 40 + 180 * blob + rng.normal(0, 12, (size, size))
        img = np.clip(img, 0, 255).astype(np.uint8)
        out[i] = img[..., None].repeat(channels, -1) if channels > 1 else img
    return out


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def write_fake_medmnist_npz(
    path: Path,
    *,
    n_classes: int,
    size: int = 28,
    channels: int = 3,
    counts: tuple[int, int, int] = (20, 6, 8),
    multilabel: bool = False,
    seed: int = 0,
) -> Path:
    """An ``.npz`` with MedMNIST's keys: ``{train,val,test}_images`` (N,H,W[,C]) uint8, ``*_labels`` (N,1) or (N,K)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for k, (split, n) in enumerate(zip(("train", "val", "test"), counts, strict=True)):
        arrays[f"{split}_images"] = synthetic_images(n, size, channels, seed=seed + 1000 * k)
        if multilabel:
            arrays[f"{split}_labels"] = rng.integers(0, 2, (n, n_classes)).astype(np.uint8)
        else:
            labels = np.arange(n) % n_classes  # every class present in every split
            arrays[f"{split}_labels"] = rng.permutation(labels).reshape(n, 1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


RETINA_LABELS = ["no DR", "mild NPDR", "moderate NPDR", "severe NPDR", "proliferative DR"]
RETINA_QUESTION = "What is the diabetic retinopathy grade of this fundus image?"
RETINA_KNOWLEDGE = "Diabetic retinopathy is graded 0-4 by the ICDR scale from microaneurysms to neovascularisation."
VRFT_INSTRUCTION = " Output the thinking process in <think> </think> and the final answer in <answer> </answer> tags."


def retina_row(
    i: int,
    image: np.ndarray,
    *,
    knowledge: str = RETINA_KNOWLEDGE,
    option_style: str = "none",
    prompt_text: str | None = None,
) -> dict:
    """Row ``i`` of a RetinaMNIST-like ordinal set (label ``i`` mod 5) in the project's row schema."""
    from data_preprocess.schema import make_extra_info, make_row

    info = make_extra_info(
        split="train",
        index=i,
        dataset="retinamnist",
        task_type="ordinal",
        labels=RETINA_LABELS,
        option_style=option_style,
        question=RETINA_QUESTION,
        knowledge=knowledge,
        template="vrft",
        image_size=[int(image.shape[1]), int(image.shape[0])],
    )
    return make_row(
        dataset="retinamnist",
        prompt_text=prompt_text if prompt_text is not None else "<image>" + RETINA_QUESTION + VRFT_INSTRUCTION,
        image_bytes=[png_bytes(image)],
        ground_truth=RETINA_LABELS[i % len(RETINA_LABELS)],
        extra_info=info,
    )


def write_fixture_parquet(
    path: Path, n: int = 10, size: int = 56, seed: int = 0, knowledge: str = RETINA_KNOWLEDGE
) -> Path:
    """A small RetinaMNIST-like ordinal parquet written through the project's row schema (no converter needed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from data_preprocess.schema import arrow_schema

    rows = [retina_row(i, img, knowledge=knowledge) for i, img in enumerate(synthetic_images(n, size=size, seed=seed))]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema()), path)
    return path


def write_busi_like_folder(root: Path) -> Path:
    """BUSI layout: <class>/<name>.png with <name>_mask.png (and _mask_1.png for a second lesion)."""
    rng = np.random.default_rng(0)
    for cls, n in (("benign", 4), ("malignant", 4), ("normal", 2)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            stem = f"{cls} ({i + 1})"
            Image.fromarray(rng.integers(0, 255, (60, 80), dtype=np.uint8)).save(root / cls / f"{stem}.png")
            mask = np.zeros((60, 80), np.uint8)
            if cls != "normal":
                mask[10 + i : 30, 20 : 50 + i] = 255
            Image.fromarray(mask).save(root / cls / f"{stem}_mask.png")
            if cls == "malignant" and i == 0:
                second = np.zeros((60, 80), np.uint8)
                second[40:55, 5:15] = 255
                Image.fromarray(second).save(root / cls / f"{stem}_mask_1.png")
    return root


def default_sigint() -> None:
    """``preexec_fn`` for a child the test interrupts with SIGINT: a shell that starts pytest in the background sets
    SIGINT to ignored, the child inherits that, and Python then installs no KeyboardInterrupt handler."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def paper_epochs() -> int:
    """``trainer.total_epochs`` of every RL paper row: ``PAPER_EPOCHS`` of examples/common.sh, as bash sees it."""
    import os
    import subprocess

    proc = subprocess.run(
        ["bash", "-c", 'source examples/common.sh && echo "$PAPER_EPOCHS"'],
        cwd=REPO,
        env={**os.environ, "VERL_MED_DRY_RUN": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)
