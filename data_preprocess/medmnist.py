"""MedMNIST 2D -> verl parquet (``train/val/test.parquet``), one row per image.

    python -m data_preprocess.medmnist --dataset retinamnist --size 224 --output_dir ~/data/retinamnist
    python -m data_preprocess.medmnist --dataset bloodmnist --npz bloodmnist_64.npz --train_size 32 --output_dir ...

Metadata (task type, official labels) comes from ``medmnist.INFO``; display names, aliases, the question and
the knowledge text from the dataset's card in ``knowledge/``, checked against INFO. Images are streamed from the
``.npz`` in chunks, so a 224-px PathMNIST or TissueMNIST converts in bounded memory.

Why upscale (``--image_size``, default 224): Qwen2.5-VL cuts an image into 14x14-px patches and merges 2x2
neighbouring patches into one visual token, so one token covers 28x28 px. A 28-px MedMNIST image is a *single*
visual token (the processor's minimum then blows it up to 56x56 = 4 tokens); at 224 px it is an 8x8 grid of 64
tokens. Upscaling adds no information, but gives the vision encoder a spatial layout at a scale it was trained
on. Prefer the native 64/128/224-px files (``--size``) over upscaling 28-px ones when you can.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path

import medmnist
import numpy as np
from medmnist import INFO
from tqdm import tqdm

from reward_fns.task_type import TaskType

from . import validate
from .cards import load_card, task_spec, validate_card
from .cli import PromptOptions, SubsetOptions, add_num_proc_arg, add_output_args, option_keywords, run_cli
from .common import SPLITS, ConversionError, atomic_outputs, encode_pixel_rows
from .npz_stream import NpzStream
from .parallel import Workers, in_order
from .schema import arrow_schema

DATASETS_2D = tuple(flag for flag in INFO if not flag.endswith("3d"))
SIZES = (28, 64, 128, 224)
TASK_TYPES = {
    "multi-class": "multiclass",
    "binary-class": "binary",
    "ordinal-regression": "ordinal",
    "multi-label, binary-class": "multilabel",
}


def npz_filename(flag: str, size: int) -> str:
    """MedMNIST's file naming: ``{flag}.npz`` for 28 px, ``{flag}_{size}.npz`` otherwise."""
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def download_npz(flag: str, size: int, root: Path | str) -> Path:
    """Fetch the ``.npz`` with medmnist's own downloader (URL and MD5 from INFO; skipped if already verified).

    The dataset object is made without ``__init__``: that would ``np.load`` a whole split into memory (over a
    GB for the 224-px files), and we only want the file."""
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    cls = getattr(medmnist, INFO[flag]["python_class"])
    dataset = cls.__new__(cls)
    dataset.info, dataset.root, dataset.size_flag = INFO[flag], str(root), "" if size == 28 else f"_{size}"
    try:
        dataset.download()
    except Exception as err:  # medmnist raises RuntimeError with a multi-line manual; keep its one useful line
        url = INFO[flag].get(f"url_{size}" if size != 28 else "url", "the MedMNIST Zenodo record")
        raise ConversionError(
            f"could not download {npz_filename(flag, size)} to {root} ({type(err).__name__}; no network?). "
            f"Download it from {url} and pass --npz <file>, or put it in {root}."
        ) from None
    return root / npz_filename(flag, size)


def _check_split(npz: NpzStream, split: str, n_classes: int, multilabel: bool) -> np.ndarray:
    """Labels of a split as (N,) class indices or (N, K) 0/1, after checking layout and range against INFO."""
    shape, dtype = npz.header(f"{split}_images")
    square = len(shape) in (3, 4) and shape[1] == shape[2]
    if dtype != np.uint8 or not square or (len(shape) == 4 and shape[3] not in (1, 3)):
        raise ConversionError(
            f"{npz.path}: array '{split}_images': expected uint8 (N, H, W) or (N, H, W, 1|3) "
            f"square images, got {dtype} {shape}"
        )
    validate.check_image_size((shape[2], shape[1]), f"{npz.path}: array '{split}_images'")
    labels = npz.read(f"{split}_labels")
    want = n_classes if multilabel else 1
    if labels.ndim != 2 or labels.shape[1] != want or labels.shape[0] != shape[0]:
        raise ConversionError(
            f"{npz.path}: array '{split}_labels': expected shape ({shape[0]}, {want}) to match "
            f"'{split}_images' {shape}, got {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ConversionError(f"{npz.path}: array '{split}_labels': expected integers, got {labels.dtype}")
    high = 1 if multilabel else n_classes - 1
    bad = np.flatnonzero((labels < 0).any(axis=1) | (labels > high).any(axis=1))
    if len(bad):
        raise ConversionError(
            f"{npz.path}: array '{split}_labels': value {labels[bad[0]].tolist()} at row "
            f"{bad[0]} out of range [0, {high}] ({len(bad)} bad row(s))"
        )
    return labels if multilabel else labels[:, 0]


@option_keywords
def convert(
    dataset: str,
    output_dir: Path | str,
    *,
    npz: Path | str | None = None,
    size: int = 28,
    root: Path | str | None = None,
    card: Path | str | None = None,
    image_size: int = 224,
    chunk_rows: int = 64,
    seed: int = 42,
    subset: SubsetOptions = SubsetOptions(),
    prompt: PromptOptions = PromptOptions(),
    progress: bool = True,
    num_proc: int | None = None,
) -> dict[str, Path]:
    """Convert one MedMNIST 2D dataset (``python -m data_preprocess.medmnist``), streaming its ``.npz``.

    Args:
        dataset (`str`):
            MedMNIST 2D flag, one of ``DATASETS_2D`` (``"retinamnist"``, ``"bloodmnist"``, ...).
        output_dir (`Path` or `str`):
            Folder for ``train/val/test.parquet`` (created).
        npz (`Path` or `str`, *optional*):
            Local ``.npz`` to read; by default medmnist's downloader fetches it into ``root``.
        size (`int`, *optional*, defaults to `28`):
            MedMNIST file resolution to download (28, 64, 128 or 224 px).
        root (`Path` or `str`, *optional*):
            Download folder; defaults to medmnist's ``~/.medmnist``.
        card (`Path` or `str`, *optional*):
            Task card to use instead of ``knowledge/<dataset>.yaml``.
        image_size (`int`, *optional*, defaults to `224`):
            Side the images are stored at (bicubic); ``0`` keeps the file's size.
        chunk_rows (`int`, *optional*, defaults to `64`):
            Images read from the ``.npz`` at a time: one worker job (~10 MB of 224-px RGB pixels).
        seed (`int`, *optional*, defaults to `42`):
            Seed of the subset sampling.
        subset (`SubsetOptions`, *optional*):
            Rows to keep per split and whether train is balanced per class; defaults to every row.
        prompt (`PromptOptions`, *optional*):
            Template, option style and system prompt of the rows.
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar per split.
        num_proc (`int`, *optional*):
            Processes resizing and PNG-encoding the images (default: every core); the output is the same for any.

        The options' fields are taken as keywords too, as before the option groups (``split_sizes=``,
        ``balanced=``, ``template=``, ``option_style=``, ``system_prompt=``; ``cli.option_keywords``).

    Returns:
        `dict[str, Path]`: The written parquet files by file name (``train.parquet``, ``val.parquet``,
        ``test.parquet``).

    Example:

    >>> import tempfile, pyarrow.parquet as pq
    >>> rng, arrays = np.random.default_rng(0), {}
    >>> for split, n in (("train", 8), ("val", 4), ("test", 4)):  # a BreastMNIST-like file: benign / malignant
    ...     arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    ...     arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(n, 1).astype(np.uint8)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     np.savez(f"{tmp}/breastmnist.npz", **arrays)
    ...     written = convert("breastmnist", f"{tmp}/out", npz=f"{tmp}/breastmnist.npz", image_size=28,
    ...                       subset=SubsetOptions(sizes={"train": 4}), progress=False)
    ...     {name: pq.ParquetFile(path).metadata.num_rows for name, path in written.items()}
    {'train.parquet': 4, 'val.parquet': 4, 'test.parquet': 4}
    """
    if dataset not in DATASETS_2D:
        raise ConversionError(f"--dataset {dataset!r}: not a MedMNIST 2D dataset; choose from {DATASETS_2D}")
    subset.check()
    info = INFO[dataset]
    task_type = TASK_TYPES[info["task"]]
    official = [info["label"][str(i)] for i in range(len(info["label"]))]
    task_card = load_card(card or dataset)
    validate_card(task_card, official, task_type, source=f"medmnist.INFO['{dataset}']")
    builder = prompt.row_builder(task_spec(task_card))
    if npz is None:
        npz = download_npz(dataset, size, root if root is not None else medmnist.info.DEFAULT_ROOT)
    multilabel = task_type == TaskType.MULTILABEL
    workers = Workers(num_proc)
    window = max(2, workers.num_proc * 2)  # jobs of chunk_rows images in flight: memory stays bounded
    with workers, NpzStream(npz) as source, atomic_outputs(output_dir) as outputs:
        labels = {split: _check_split(source, split, len(official), multilabel) for split in SPLITS}  # fail early
        for stream, split in enumerate(SPLITS):
            # Balancing shapes training only: val/test subsets keep the official class distribution.
            selected = subset.select(labels[split], split, seed=seed, stream=stream)
            sink = outputs.open(f"{split}.parquet", arrow_schema(), subset.may_be_empty(split))
            wanted = np.zeros(len(labels[split]), dtype=bool)
            wanted[selected] = True
            bar = tqdm(total=len(selected), desc=f"{dataset} {split}", unit="img", disable=not progress)
            jobs = _encode_jobs(source, split, wanted, image_size, workers, chunk_rows)
            for (indices, stored), encoded in in_order(jobs, window):
                for i, png in zip(indices, encoded.result(), strict=True):
                    label = np.flatnonzero(labels[split][i]).tolist() if multilabel else int(labels[split][i])
                    sink.write(builder.row(split=split, index=i, image_png=png, image_size=stored, label=label))
                    bar.update()
            bar.close()
    return {f"{split}.parquet": Path(output_dir).expanduser() / f"{split}.parquet" for split in SPLITS}


def _encode_jobs(
    source: NpzStream, split: str, wanted: np.ndarray, image_size: int, workers: Workers, chunk_rows: int
) -> Iterator[tuple[tuple[list[int], tuple[int, int]], Future[list[bytes]]]]:
    """Per job of up to ``chunk_rows`` wanted images of ``split``: (their row indices, their stored size) and the
    future of their PNG bytes (``common.encode_pixel_rows``), chunks read from the ``.npz`` in order."""
    selected = np.flatnonzero(wanted)
    if not len(selected):
        return
    shape, _ = source.header(f"{split}_images")
    stored = (image_size, image_size) if image_size > 0 else (int(shape[2]), int(shape[1]))
    for start, chunk in source.iter_chunks(f"{split}_images", chunk_rows):
        if start > selected[-1]:
            break
        offsets = np.flatnonzero(wanted[start : start + len(chunk)])
        if len(offsets):
            rows = np.ascontiguousarray(chunk[offsets])
            yield ([start + int(k) for k in offsets], stored), workers.submit(encode_pixel_rows, rows, image_size)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m data_preprocess.medmnist",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", required=True, choices=DATASETS_2D, help="MedMNIST 2D flag")
    parser.add_argument("--size", type=int, default=28, choices=SIZES, help="MedMNIST file resolution to download")
    parser.add_argument("--npz", default=None, help="read this local .npz instead of downloading")
    parser.add_argument("--root", default=None, help="download folder (default: medmnist's ~/.medmnist)")
    parser.add_argument(
        "--image_size",
        type=validate.image_side,
        default=224,
        help="store images resized to this side (bicubic; 0 keeps the file's size); see above",
    )
    parser.add_argument("--card", default=None, help="task card YAML to use instead of knowledge/<dataset>.yaml")
    SubsetOptions.add_args(parser)
    PromptOptions.add_args(parser)
    add_output_args(parser)
    add_num_proc_arg(parser)
    args = parser.parse_args(argv)
    written = convert(
        args.dataset,
        args.output_dir,
        npz=args.npz,
        size=args.size,
        root=args.root,
        image_size=args.image_size,
        subset=SubsetOptions.from_args(args),
        prompt=PromptOptions.from_args(args),
        seed=args.seed,
        card=args.card,
        num_proc=args.num_proc,
    )
    for path in written.values():
        print(path)


if __name__ == "__main__":
    run_cli(main)
