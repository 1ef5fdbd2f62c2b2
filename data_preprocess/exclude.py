"""``--exclude PARQUET...``: drop source images that are (resized) copies of images in prepared splits, and prove it.

Why: BreastMNIST is BUSI resized (all 780 BUSI images, 546/78/156); converting all of BUSI for the localization
stage would train on BreastMNIST's val/test images. Each source image is brought to the size of the excluded images
both ways MedMNIST may have done it (squashed whole, or centre-cropped to a square first: its docs say only
"resized"), then both are reduced to ``THUMB`` x ``THUMB`` grey thumbnails and compared by the Pearson correlation
of their pixels, which ignores the brightness and contrast shifts of re-encoding. Every excluded image is then
matched to one source image, one-to-one (the assignment of highest total correlation, scipy's
``linear_sum_assignment``), and the run fails unless every one is matched (``require_all``): a count of dropped
source images could not tell a missed copy from an unrelated one. The matches (source file, excluded file and row,
correlation, resize) are written beside the output (``EXCLUDED_FILE``) and checked before training
(``verl_med_plugin.checks.data``).

Threshold ``MATCH_CORRELATION = 0.97``: a resized copy stays above 0.99 (interpolation and rounding differences
only: 0.998 with a different resampling filter than the target used), while different scans of one modality share
the layout but not the speckle and lesion shape (on 200 synthetic ultrasound-like images sharing a layout the
highest cross-image correlation was 0.93, the 99th percentile 0.86; ``tests/test_convert_exclude.py``). Change it
with ``--exclude_threshold`` if the printed matched/expected count is off.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .common import ConversionError

THUMB = 16  # thumbnail side: 28-px MedMNIST images carry little more
MATCH_CORRELATION = 0.97
RESIZES = ("squash", "crop")  # how the target may have resized a source: whole image, or centre square first
# MedMNIST's native sides: a stored image larger than these may be a smaller native file upscaled
# (data_preprocess.medmnist --image_size), so a source is also compared after passing through each of them.
NATIVE_SIDES = (28, 64, 128)
EXCLUDED_FILE = "excluded.parquet"  # the matches, beside the converter's splits


def _thumbnail(image: Image.Image) -> np.ndarray:
    """Zero-mean, unit-norm grey ``THUMB`` x ``THUMB`` pixels (a flat image gives zeros: it matches nothing)."""
    pixels = np.asarray(image.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float64).ravel()
    pixels -= pixels.mean()
    norm = float(np.linalg.norm(pixels))
    return pixels / norm if norm > 1e-6 else np.zeros_like(pixels)


def _centre_square(image: Image.Image) -> Image.Image:
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side))


def _resized(image: Image.Image, size: tuple[int, int], resize: str, native: int | None = None) -> Image.Image:
    source = _centre_square(image) if resize == "crop" else image
    if native is not None:
        source = source.resize((native, native), Image.Resampling.BICUBIC)
    return source.resize(size, Image.Resampling.BICUBIC) if source.size != size else source


def _probes(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Thumbnails of ``image`` brought to ``size`` every way a target may have: per resize (``RESIZES``), the
    best of directly and through each smaller native MedMNIST side; shape (len(RESIZES), n_ways, THUMB**2)."""
    natives = [None, *(n for n in NATIVE_SIDES if n < min(size))]
    return np.stack([np.stack([_thumbnail(_resized(image, size, r, n)) for n in natives]) for r in RESIZES])


@dataclass(frozen=True)
class Match:
    """One excluded image and the source image it was made from (None: no source matched it)."""

    source: str | None
    target_file: str
    target_row: int
    correlation: float
    resize: str


class ExcludeIndex:
    """Thumbnails of every image of the given parquet files, grouped by stored image size."""

    def __init__(self, paths: Sequence[Path | str], threshold: float = MATCH_CORRELATION, require_all: bool = True):
        import pyarrow.parquet as pq

        if not 0.0 < threshold <= 1.0:
            raise ConversionError(f"--exclude_threshold {threshold}: expected a correlation in (0, 1]")
        self.paths, self.threshold, self.require_all = [Path(p).expanduser() for p in paths], threshold, require_all
        by_size: dict[tuple[int, int], list[np.ndarray]] = {}
        self._ids: dict[tuple[int, int], list[tuple[str, int]]] = {}
        for path in self.paths:
            try:
                table = pq.read_table(path, columns=["images"])
            except (OSError, ValueError) as err:
                raise ConversionError(
                    f"--exclude {path}: not a prepared parquet with an 'images' column: {err}"
                ) from err
            for row, images in enumerate(table.column("images").to_pylist()):
                for entry in images or []:
                    with Image.open(io.BytesIO(entry["bytes"])) as img:
                        img.load()
                        by_size.setdefault(img.size, []).append(_thumbnail(img))
                        self._ids.setdefault(img.size, []).append((str(path), row))
        self.count = sum(len(v) for v in by_size.values())
        self._thumbs = {size: np.stack(v) for size, v in by_size.items()}
        self.matched: list[Match] = []
        self.record: list[Match] = []  # one entry per excluded image, matched or not (written by write_record)

    def matches(self, image: Image.Image) -> bool:
        """Whether ``image``, resized to an excluded image's size (either way), correlates with one at the
        threshold (one image alone; ``match`` assigns a whole source set one-to-one)."""
        return any(
            float((_probes(image, size) @ thumbs.T).max()) >= self.threshold for size, thumbs in self._thumbs.items()
        )

    def match(self, sources: Sequence[str], load: Callable[[int], Image.Image]) -> list[Match]:
        """Each excluded image's source among ``sources`` (``load(i)``: the i-th source image), one-to-one.

        Raises ``ConversionError`` (``require_all``) unless every excluded image is matched, naming the first
        unmatched one and its best correlation."""
        from scipy.optimize import linear_sum_assignment

        ids = [i for size in self._thumbs for i in self._ids[size]]
        score = np.full((len(ids), len(sources)), -1.0)
        how = np.zeros((len(ids), len(sources)), dtype=np.int64)
        for j in range(len(sources)):
            with load(j) as image:
                image.load()
                offset = 0
                for size, thumbs in self._thumbs.items():
                    per_resize = (_probes(image, size) @ thumbs.T).max(axis=1)  # (resizes, targets)
                    rows = slice(offset, offset + len(thumbs))
                    score[rows, j], how[rows, j] = per_resize.max(axis=0), per_resize.argmax(axis=0)
                    offset += len(thumbs)
        targets, chosen = linear_sum_assignment(score, maximize=True) if sources else ([], [])
        matched = [
            Match(sources[j], ids[t][0], ids[t][1], float(score[t, j]), RESIZES[how[t, j]])
            for t, j in zip(targets, chosen, strict=True)
            if score[t, j] >= self.threshold
        ]
        by_resize = {r: sum(m.resize == r for m in matched) for r in RESIZES}
        print(
            f"--exclude: matched {len(matched)}/{len(ids)} images of {', '.join(map(str, self.paths))} to source "
            f"images one-to-one ({', '.join(f'{r}: {n}' for r, n in by_resize.items())}; correlation >= "
            f"{self.threshold}); dropping those {len(matched)} of {len(sources)} source images"
        )
        if self.require_all and len(matched) < len(ids):
            done = {(m.target_file, m.target_row) for m in matched}
            first = next(t for t, i in enumerate(ids) if i not in done)
            best = float(score[first].max()) if len(sources) else float("nan")
            raise ConversionError(
                f"--exclude: only {len(matched)} of {len(ids)} excluded images have their source among the "
                f"{len(sources)} source images; first unmatched: {ids[first][0]} row {ids[first][1]} (best "
                f"correlation {best:.3f} < {self.threshold}). The sources are incomplete or resized another way; "
                "training on them could leak those images (--exclude_partial accepts a partial match)"
            )
        self.matched = matched
        done = {(m.target_file, m.target_row) for m in matched}
        nearest = score.argmax(axis=1) if len(sources) else np.zeros(len(ids), dtype=np.int64)
        self.record = sorted(
            matched
            + [
                Match(None, f, r, float(score[t, nearest[t]]) if len(sources) else 0.0, RESIZES[how[t, nearest[t]]])
                for t, (f, r) in enumerate(ids)
                if (f, r) not in done
            ],
            key=lambda m: (m.target_file, m.target_row),
        )
        return matched

    def write_record(self, outputs) -> None:
        """Every excluded image with its source (null: unmatched, allowed only with ``--exclude_partial``) as
        ``EXCLUDED_FILE`` among a converter's atomic outputs (``common.atomic_outputs``)."""
        import pyarrow as pa

        schema = pa.schema(
            [
                ("source", pa.string()),
                ("target_file", pa.string()),
                ("target_row", pa.int64()),
                ("correlation", pa.float64()),
                ("resize", pa.string()),
            ]
        )
        sink = outputs.open(EXCLUDED_FILE, schema, may_be_empty=True)
        for m in self.record:
            sink.write(m.__dict__)


def add_exclude_args(parser) -> None:
    parser.add_argument(
        "--exclude",
        nargs="+",
        default=(),
        metavar="PARQUET",
        help="drop source images matching an image of these prepared splits (e.g. the test and val parquet of a "
        "dataset made from the same source), one-to-one; fails unless every such image is matched; prints "
        f"matched/expected and writes the matches to {EXCLUDED_FILE}",
    )
    parser.add_argument(
        "--exclude_threshold",
        type=float,
        default=MATCH_CORRELATION,
        help="thumbnail correlation at which two images are the same (see data_preprocess/exclude.py)",
    )
    parser.add_argument(
        "--exclude_partial",
        action="store_true",
        help="accept --exclude images without a source (the sources are a subset of the excluded set's origin)",
    )


def drop_excluded(samples: list, index: ExcludeIndex | None, load) -> list:
    """``samples`` without those whose image (``load(sample)`` -> PIL image) is the source of an image of
    ``index`` (``ExcludeIndex.match``, one-to-one); prints matched/expected."""
    if index is None:
        return samples
    names = [str(getattr(s, "image", i)) for i, s in enumerate(samples)]
    dropped = {m.source for m in index.match(names, lambda j: load(samples[j]))}
    return [s for s, name in zip(samples, names, strict=True) if name not in dropped]
