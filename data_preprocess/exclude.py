"""``--exclude PARQUET...``: drop source images that are (resized) copies of images in prepared splits.

Why: BreastMNIST is BUSI resized; converting all of BUSI for the localization stage would train on BreastMNIST's
test images (issue 12). Each source image is first downscaled to the size of the excluded images (what the
target dataset did to it), then both are reduced to ``THUMB`` x ``THUMB`` grey thumbnails and compared by the
Pearson correlation of their pixels, which ignores the brightness and contrast shifts of re-encoding.

Threshold ``MATCH_CORRELATION = 0.97``: a resized copy stays above 0.99 (interpolation and rounding differences
only: 0.998 with a different resampling filter than the target used), while different scans of one modality share
the layout but not the speckle and lesion shape (on 200 synthetic ultrasound-like images sharing a layout the
highest cross-image correlation was 0.93, the 99th percentile 0.86; ``tests/test_convert_exclude.py``). Change it
with ``--exclude_threshold`` if the printed count of dropped images is off (e.g. a target that cropped its
sources, which this match does not undo).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .common import ConversionError

THUMB = 16  # thumbnail side: 28-px MedMNIST images carry little more
MATCH_CORRELATION = 0.97


def _thumbnail(image: Image.Image) -> np.ndarray:
    """Zero-mean, unit-norm grey ``THUMB`` x ``THUMB`` pixels (a flat image gives zeros: it matches nothing)."""
    pixels = np.asarray(image.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float64).ravel()
    pixels -= pixels.mean()
    norm = float(np.linalg.norm(pixels))
    return pixels / norm if norm > 1e-6 else np.zeros_like(pixels)


class ExcludeIndex:
    """Thumbnails of every image of the given parquet files, grouped by stored image size."""

    def __init__(self, paths: Sequence[Path | str], threshold: float = MATCH_CORRELATION):
        import pyarrow.parquet as pq

        if not 0.0 < threshold <= 1.0:
            raise ConversionError(f"--exclude_threshold {threshold}: expected a correlation in (0, 1]")
        self.paths, self.threshold = [Path(p).expanduser() for p in paths], threshold
        by_size: dict[tuple[int, int], list[np.ndarray]] = {}
        for path in self.paths:
            try:
                table = pq.read_table(path, columns=["images"])
            except (OSError, ValueError) as err:
                raise ConversionError(f"--exclude {path}: not a prepared parquet with an 'images' column: {err}")
            for images in table.column("images").to_pylist():
                for entry in images or []:
                    with Image.open(io.BytesIO(entry["bytes"])) as img:
                        img.load()
                        by_size.setdefault(img.size, []).append(_thumbnail(img))
        self.count = sum(len(v) for v in by_size.values())
        self._thumbs = {size: np.stack(v) for size, v in by_size.items()}

    def matches(self, image: Image.Image) -> bool:
        """Whether ``image``, downscaled to an excluded image's size, correlates with one at the threshold."""
        for size, thumbs in self._thumbs.items():
            probe = _thumbnail(image.resize(size, Image.Resampling.BICUBIC) if image.size != size else image)
            if float((thumbs @ probe).max()) >= self.threshold:
                return True
        return False


def add_exclude_args(parser) -> None:
    parser.add_argument(
        "--exclude",
        nargs="+",
        default=(),
        metavar="PARQUET",
        help="drop source images matching any image of these prepared splits (e.g. the test and "
        "val parquet of a dataset made from the same source); the count dropped is printed",
    )
    parser.add_argument(
        "--exclude_threshold",
        type=float,
        default=MATCH_CORRELATION,
        help="thumbnail correlation at which two images are the same (see data_preprocess/exclude.py)",
    )


def drop_excluded(samples: list, index: ExcludeIndex | None, load) -> list:
    """``samples`` without those whose image (``load(sample)`` -> PIL image) matches ``index``; prints the count."""
    if index is None:
        return samples
    kept = [s for s in samples if not index.matches(load(s))]
    print(
        f"--exclude: dropped {len(samples) - len(kept)} of {len(samples)} source images matching one of "
        f"{index.count} images in {', '.join(map(str, index.paths))} (correlation >= {index.threshold})"
    )
    return kept
