"""Grounding rows (``task_type=grounding``) for the localization stage that precedes classification (VRFT-Aug
PA_pi): the model learns to box lesions or organs before it learns to name them.

    # segmentation masks -> boxes, e.g. BUSI (the source of BreastMNIST): images "x.png" with masks "x_mask*.png"
    python -m data_preprocess.grounding --masks Dataset_BUSI_with_GT --name busi_lesion \\
        --question "Locate the lesion in this breast ultrasound image." --output_dir ~/data/busi_grounding
    # COCO-style annotations, one json per split
    python -m data_preprocess.grounding --coco train=ann/train.json --coco val=ann/val.json \\
        --image_root images --name my_lesions --output_dir ~/data/my_grounding

Boxes are ``[x1, y1, x2, y2]`` pixel edges (x2 = last column + 1), scaled to the *stored* image and written in
``--box_format`` (``abs``: pixels of the stored image, as Qwen2.5-VL answers; ``rel1000``: 0-1000, as Qwen3-VL
answers; ``rel1``: 0-1). The stored size is in ``extra_info.image_size``. Images are stored at most
``--max_side`` px with sides rounded to multiples of 28, so the Qwen-VL processor does not resize them again and
pixel boxes keep pointing at the same pixels. ``--max_side 0`` keeps every image at its source size: ``abs`` boxes
(and the prompt's "pixel coordinates of this WxH image") then refer to that stored size, which the processor
resizes unless both sides are multiples of 28 (and the pixel count lies within min/max_pixels). Score such data
with ``med.reward.abs_frame=stored``: the reward's default ``abs_frame=qwen`` reads pixel answers in the resized
(``smart_resize``) frame. ``rel1000``/``rel1`` boxes do not depend on the size. An image without any box has
ground truth ``[]`` (a negative the reward scores as correct when the answer is ``[]``); ``--drop_empty`` leaves
such images out.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import validate
from .cli import (
    ImageOptions,
    PromptOptions,
    SplitOptions,
    add_num_proc_arg,
    add_output_args,
    option_keywords,
    run_cli,
)
from .common import SPLITS, ConversionError, atomic_outputs, encode_png, fit_size, open_image, resize
from .parallel import Workers, in_order
from .prompts import TaskSpec
from .release_paths import ReleaseRoot
from .schema import BOX_FORMATS, arrow_schema

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DEFAULT_QUESTION = "Locate every lesion in this image."


@dataclass
class Sample:
    """One image and where its boxes come from: ``boxes`` in source pixels (COCO), or mask files."""

    image: Path
    split: str = ""
    stratum: str = ""  # random splits are stratified by it (e.g. BUSI's benign/malignant/normal folder)
    boxes: list[list[float]] = field(default_factory=list)
    masks: list[Path] = field(default_factory=list)
    size: tuple[int, int] | None = None  # (width, height) the annotation file claims
    source: str = ""  # where the annotation came from, for error messages


MASK_THRESHOLD = 128  # 8-bit masks: JPEG-compressed masks carry faint noise around the lesion that would grow boxes


def boxes_from_mask(
    mask: np.ndarray, per_component: bool = False, threshold: int = MASK_THRESHOLD
) -> list[list[float]]:
    """Bounding box of the foreground (pixels >= ``threshold``; ``> 0`` for 0/1 label masks, whose maximum is 1),
    ``[]`` for an empty mask; one box per connected component if asked."""
    fg = mask > 0 if int(mask.max(initial=0)) <= 1 else mask >= threshold
    if not fg.any():
        return []
    if per_component:
        from scipy import ndimage

        labelled, _ = ndimage.label(fg)
        return [
            [float(s[1].start), float(s[0].start), float(s[1].stop), float(s[0].stop)]
            for s in ndimage.find_objects(labelled)
        ]
    rows, cols = np.flatnonzero(fg.any(axis=1)), np.flatnonzero(fg.any(axis=0))
    return [[float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]]


def scale_boxes(
    boxes: list[list[float]], src: tuple[int, int], dst: tuple[int, int], box_format: str
) -> list[list[float]]:
    """Boxes in pixels of an image of size ``src`` -> ``box_format`` coordinates of the stored size ``dst``."""
    out_w, out_h = {"abs": dst, "rel1000": (1000, 1000), "rel1": (1, 1)}[box_format]
    sx, sy = out_w / src[0], out_h / src[1]
    digits = 4 if box_format == "rel1" else 0
    scaled = []
    for x1, y1, x2, y2 in boxes:
        box = [
            min(max(x1 * sx, 0), out_w),
            min(max(y1 * sy, 0), out_h),
            min(max(x2 * sx, 0), out_w),
            min(max(y2 * sy, 0), out_h),
        ]
        scaled.append([round(v, digits) if digits else int(round(v)) for v in box])
    return scaled


def read_coco(json_path: Path, image_root: Path, split: str, categories: Sequence[str] = ()) -> list[Sample]:
    """Samples of a COCO-style file (``images``, ``annotations`` with ``bbox`` = [x, y, w, h]), in file order."""
    try:
        data = json.loads(validate.read_text(json_path, "COCO json"))
    except (ValueError, RecursionError) as err:  # RecursionError: absurdly deeply nested json
        raise ConversionError(f"{json_path}: not readable COCO json: {type(err).__name__}: {err}") from None
    for key in ("images", "annotations"):
        if not isinstance(data.get(key) if isinstance(data, dict) else None, list):
            raise ConversionError(f"{json_path}: field '{key}': missing or not a list")
    wanted_ids = None
    if categories:
        cats = data.get("categories") or []
        if not isinstance(cats, list) or not all(
            isinstance(c, dict) and _is_id(c.get("name")) and _is_id(c.get("id")) for c in cats
        ):
            raise ConversionError(f"{json_path}: field 'categories': expected a list of {{id, name}} objects")
        names = {c.get("name"): c.get("id") for c in cats}
        unknown = [c for c in categories if c not in names]
        if unknown:
            raise ConversionError(f"{json_path}: field 'categories': no category {unknown} (has {sorted(names)})")
        wanted_ids = {names[c] for c in categories}
    if not data["images"]:
        raise ConversionError(f"{json_path}: field 'images': empty, no image to convert")
    validate.check_unique_ids(
        [
            (img.get("id"), f"images[{j}] ({img.get('file_name')!r})")
            for j, img in enumerate(data["images"])
            if isinstance(img, dict)
        ],
        f"{json_path}: field 'images'",
    )
    release = ReleaseRoot(image_root)  # a file_name never reaches outside the image folder (release_paths)
    samples: dict[object, Sample] = {}
    for j, img in enumerate(data["images"]):
        try:
            samples[img["id"]] = Sample(
                image=release.resolve_given(image_root, img["file_name"], f"{json_path}: images[{j}]"),
                split=split,
                size=(int(img["width"]), int(img["height"])),
                source=f"{json_path}: images[{j}]",
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConversionError(
                f"{json_path}: field 'images[{j}]': needs id, file_name, width, height ({err})"
            ) from err
    for i, ann in enumerate(data["annotations"]):
        where = f"{json_path}: field 'annotations[{i}]"
        for key in ("image_id", "category_id"):
            if isinstance(ann, dict) and not _is_id(ann.get(key)):
                raise ConversionError(f"{where}.{key}': expected a number or string id, got {ann.get(key)!r}")
        if not isinstance(ann, dict) or ann.get("image_id") not in samples:
            raise ConversionError(
                f"{where}.image_id': no image with id {ann.get('image_id')!r}"
                if isinstance(ann, dict)
                else f"{where}': not an object"
            )
        if wanted_ids is not None and ann.get("category_id") not in wanted_ids:
            continue
        if ann.get("iscrowd"):  # a crowd region (RLE over many objects), not one object's box: COCO skips it too
            continue
        sample, bbox = samples[ann["image_id"]], ann.get("bbox")
        if (
            not isinstance(bbox, list)
            or len(bbox) != 4
            or not all(_is_number(v) for v in bbox)
            or bbox[2] <= 0
            or bbox[3] <= 0
        ):
            raise ConversionError(f"{where}.bbox': expected [x, y, width, height] with positive size, got {bbox!r}")
        x, y, w, h = map(float, bbox)
        assert sample.size is not None  # every COCO sample above was made with its image entry's width and height
        width, height = sample.size
        if x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1:
            raise ConversionError(f"{where}.bbox': {bbox} lies outside its {width}x{height} image")
        sample.boxes.append([x, y, x + w, y + h])
    return list(samples.values())


def _is_id(value: object) -> bool:
    """A usable COCO id or name: a number or a string (``None`` = absent, rejected later where it matters)."""
    return value is None or (isinstance(value, (int, float, str)) and not isinstance(value, bool))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_mask_folder(image_dir: Path, mask_dir: Path | None = None, mask_suffix: str = "_mask") -> list[Sample]:
    """Images under ``image_dir`` (recursively) and their masks ``<stem><mask_suffix>*.<ext>`` at the same relative
    place under ``mask_dir`` (default: beside the images), sorted by path; stratum = the image's sub-folder."""
    mask_dir = mask_dir or image_dir
    if not image_dir.is_dir():
        raise ConversionError(f"{image_dir}: not a folder of images")
    images = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and mask_suffix not in p.stem)
    if not images:
        raise ConversionError(f"{image_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    samples = []
    for image in images:
        rel = image.relative_to(image_dir)
        masks = mask_files(image, mask_dir / rel.parent, mask_suffix)
        samples.append(Sample(image=image, stratum=str(rel.parent), masks=masks, source=str(image)))
    return samples


def mask_files(image: Path, folder: Path, mask_suffix: str) -> list[Path]:
    """The masks ``<stem><mask_suffix>*.<ext>`` of ``image`` in ``folder``, sorted; an image without one is an
    error (a lesion box that silently went missing would read as "no lesion")."""
    import glob

    pattern = str(folder / (glob.escape(image.stem) + glob.escape(mask_suffix))) + "*"
    masks = sorted(Path(m) for m in glob.glob(pattern) if Path(m).suffix.lower() in IMAGE_SUFFIXES)
    if not masks:
        raise ConversionError(f"{image}: no mask file ({pattern}) for this image")
    return masks


@dataclass(frozen=True)
class Preparation:
    """How ``prepare_sample`` reads and stores a sample (``convert``'s options, sent to the workers)."""

    max_side: int
    max_image_pixels: int
    per_component: bool
    mask_threshold: int
    drop_empty: bool


def prepare_sample(
    sample: Sample, how: Preparation
) -> tuple[bytes, tuple[int, int], list[list[float]], tuple[int, int]] | None:
    """A sample's stored PNG, stored size, boxes in source pixels and source size (None: no box and
    ``drop_empty``): the CPU-bound part of a row (decoding, mask boxes, resizing, encoding), run on a worker."""
    source = open_image(sample.image, how.max_image_pixels)
    if sample.size is not None and sample.size != source.size:
        raise ConversionError(
            f"{sample.source}: width/height {sample.size} disagree with the file "
            f"{sample.image} ({source.size[0]}x{source.size[1]})"
        )
    boxes = list(sample.boxes)
    for mask_path in sample.masks:
        mask = open_image(mask_path, how.max_image_pixels)
        if mask.size != source.size:
            raise ConversionError(
                f"{mask_path}: mask size {mask.size} differs from its image {sample.image} {source.size}"
            )
        boxes += boxes_from_mask(np.asarray(mask.convert("L")), how.per_component, how.mask_threshold)
    if how.drop_empty and not boxes:
        return None
    stored = resize(source, fit_size(*source.size, how.max_side))
    return encode_png(stored), stored.size, boxes, source.size


@option_keywords
def convert(
    samples: list[Sample],
    output_dir: Path | str,
    *,
    name: str,
    question: str = DEFAULT_QUESTION,
    box_format: str = "abs",
    per_component: bool = False,
    mask_threshold: int = MASK_THRESHOLD,
    drop_empty: bool = False,
    seed: int = 42,
    image: ImageOptions = ImageOptions(),
    split: SplitOptions = SplitOptions(),
    prompt: PromptOptions = PromptOptions(),
    progress: bool = True,
    num_proc: int | None = None,
) -> dict[str, Path]:
    """Write grounding rows (``python -m data_preprocess.grounding``): each image with its boxes, from the samples'
    COCO boxes or masks, scaled to the stored image.

    Samples without a split get a random, per-stratum train/val/test split; splits without samples get no file.
    Samples whose image matches ``image.exclude`` (e.g. BreastMNIST's test split, made from BUSI) are dropped
    first.

    Args:
        samples (`list[Sample]`):
            The images and their boxes or masks, e.g. from ``read_mask_folder`` or ``read_coco``.
        output_dir (`Path` or `str`):
            Folder for ``<split>.parquet`` (created).
        name (`str`):
            Dataset name (``data_source = verl_med/<name>``).
        question (`str`, *optional*, defaults to `DEFAULT_QUESTION`):
            Task question of every row.
        box_format (`str`, *optional*, defaults to `"abs"`):
            Ground-truth box convention: ``"abs"`` (pixels of the stored image), ``"rel1000"`` or ``"rel1"``.
        per_component (`bool`, *optional*, defaults to `False`):
            One box per connected mask component instead of one per mask.
        mask_threshold (`int`, *optional*, defaults to `MASK_THRESHOLD`):
            8-bit mask pixels at or above it are foreground (0/1 masks: above 0).
        drop_empty (`bool`, *optional*, defaults to `False`):
            Leave out images without any box (kept by default, as negatives with ground truth ``[]``).
        seed (`int`, *optional*, defaults to `42`):
            Seed of the random split.
        image (`ImageOptions`, *optional*):
            Longest stored side (448 px; ``0`` keeps the source size), the decompression-bomb limit and the images
            to leave out.
        split (`SplitOptions`, *optional*):
            Val and test fractions of the random split (0.1 and 0.2).
        prompt (`PromptOptions`, *optional*):
            Template and system prompt of the rows (a grounding task has no class list: no option style).
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar.
        num_proc (`int`, *optional*):
            Processes decoding the images and masks and encoding the stored images (default: every core); the
            output is the same for any.

        The options' fields are taken as keywords too, as before the option groups (``max_side=``,
        ``exclude=``, ``val_fraction=``, ``template=``, ...; ``cli.option_keywords``).

    Returns:
        `dict[str, Path]`: The written parquet files by file name, one per split that has samples.

    Example:

    >>> import tempfile, pyarrow.parquet as pq
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = Path(tmp)
    ...     for i in range(10):  # a bright square lesion in each image, its mask beside it
    ...         lesion = Image.new("L", (56, 56))
    ...         lesion.paste(255, (10, 20, 30, 40))
    ...         lesion.convert("RGB").save(root / f"case{i}.png")
    ...         lesion.save(root / f"case{i}_mask.png")
    ...     written = convert(read_mask_folder(root), root / "out", name="lesions", progress=False,
    ...                       split=SplitOptions(val_fraction=0.2, test_fraction=0.2))
    ...     rows = pq.read_table(written["train.parquet"]).to_pylist()
    ...     {name: pq.ParquetFile(path).metadata.num_rows for name, path in written.items()}
    {'train.parquet': 6, 'val.parquet': 2, 'test.parquet': 2}
    >>> rows[0]["reward_model"]["ground_truth"]  # the lesion's box in pixels of the stored 56x56 image
    '[[10,20,30,40]]'
    """
    if box_format not in BOX_FORMATS:
        raise ConversionError(f"--box_format {box_format!r}: expected one of {BOX_FORMATS}")
    if prompt.option_style != "none":
        raise ConversionError(f"--option_style {prompt.option_style}: a grounding task has no class list")
    samples = image.without_excluded(samples)
    split.assign(samples, [s.stratum for s in samples], seed)
    builder = prompt.row_builder(TaskSpec(name=name, task_type="grounding", question=question, box_format=box_format))
    splits = [s for s in SPLITS if any(x.split == s for x in samples)]
    splits += sorted({x.split for x in samples} - set(splits))
    prepare = Preparation(image.max_side, image.max_image_pixels, per_component, mask_threshold, drop_empty)
    with Workers(num_proc) as workers, atomic_outputs(output_dir) as outputs:
        sinks = {s: outputs.open(f"{s}.parquet", arrow_schema()) for s in splits}
        if image.exclude is not None:  # the proof of the exclusion travels with the data (checked before training)
            image.exclude.write_record(outputs)
        jobs = (
            (index, sample, workers.submit(prepare_sample, sample, prepare)) for index, sample in enumerate(samples)
        )
        ordered = in_order(jobs, workers.window)
        for index, sample, job in tqdm(ordered, total=len(samples), desc=f"{name}", unit="img", disable=not progress):
            prepared = job.result()
            if prepared is None:  # no box, and --drop_empty
                continue
            png, stored, boxes, source_size = prepared
            sinks[sample.split].write(
                builder.row(
                    split=sample.split,
                    index=index,
                    image_png=png,
                    image_size=stored,
                    label=scale_boxes(boxes, source_size, stored, box_format),
                )
            )
    return {f"{s}.parquet": Path(output_dir).expanduser() / f"{s}.parquet" for s in splits}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m data_preprocess.grounding",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--masks", help="folder of images with segmentation masks beside them (or in --mask_dir)")
    source.add_argument(
        "--coco",
        action="append",
        metavar="SPLIT=JSON",
        help="COCO-style annotation file of a split, SPLIT = train, val or test (repeat per split; "
        "'JSON' alone = train)",
    )
    parser.add_argument("--mask_dir", default=None, help="masks in this folder (same sub-folders as the images)")
    parser.add_argument("--mask_suffix", default="_mask", help="mask file = image stem + this + anything")
    parser.add_argument("--per_component", action="store_true", help="one box per connected mask component")
    parser.add_argument(
        "--mask_threshold",
        type=int,
        default=MASK_THRESHOLD,
        help="mask pixels >= this are foreground (0/1 masks: > 0); 128 keeps JPEG noise out of boxes",
    )
    parser.add_argument("--image_root", default=".", help="folder the COCO file_name entries are relative to")
    parser.add_argument("--categories", nargs="*", default=(), help="COCO category names to keep (default: all)")
    parser.add_argument("--name", required=True, help="dataset name (data_source = verl_med/<name>)")
    parser.add_argument("--question", default=DEFAULT_QUESTION, help="task question of every row")
    parser.add_argument("--box_format", default="abs", choices=BOX_FORMATS, help="ground-truth box convention")
    parser.add_argument("--drop_empty", action="store_true", help="leave out images without any box")
    ImageOptions.add_args(
        parser,
        "longest stored side; 0 keeps the source size, so abs boxes refer to it and the "
        "reward needs med.reward.abs_frame=stored unless both sides are multiples of 28 (see above)",
    )
    SplitOptions.add_args(parser)
    PromptOptions.add_args(parser, option_style=False)
    add_output_args(parser)
    add_num_proc_arg(parser)
    args = parser.parse_args(argv)
    if args.masks:
        samples = read_mask_folder(Path(args.masks), Path(args.mask_dir) if args.mask_dir else None, args.mask_suffix)
    else:
        samples = []
        for spec in args.coco:
            split, _, path = spec.partition("=") if "=" in spec else ("", "", spec)
            if split and split not in SPLITS:
                raise ConversionError(f"--coco {spec}: split {split!r}: expected one of {', '.join(SPLITS)}")
            samples += read_coco(Path(path), Path(args.image_root), split or "train", args.categories)
    written = convert(
        samples,
        args.output_dir,
        name=args.name,
        question=args.question,
        box_format=args.box_format,
        per_component=args.per_component,
        mask_threshold=args.mask_threshold,
        drop_empty=args.drop_empty,
        seed=args.seed,
        image=ImageOptions.from_args(args),
        split=SplitOptions.from_args(args),
        prompt=PromptOptions.from_args(args),
        num_proc=args.num_proc,
    )
    for path in written.values():
        print(path)


if __name__ == "__main__":
    run_cli(main)
