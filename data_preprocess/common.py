"""Data helpers every converter shares: errors, image encoding and guarded decoding, subset selection and
splits, and the atomic, incremental parquet writer. Converters only read their source format and call these;
their shared command line is ``data_preprocess.cli``."""

from __future__ import annotations

import io
import math
import os
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image

from . import validate
from .atomic import temp_sibling
from .errors import ERROR_PREFIX as ERROR_PREFIX  # re-exported: verl_med_plugin and the tests import them from here
from .errors import USER_ERROR_EXIT as USER_ERROR_EXIT
from .errors import ConversionError
from .errors import UserError as UserError

# PNG deflate settings (lossless either way). After PNG's row filters, noisy medical images leave deflate little
# but runs to find: run-length deflate at level 1 gives Pillow-default (level 6) file sizes on noisy 224-px RGB in
# ~60 % of the time, and on smooth (upscaled) images ~1/3 larger files 3x faster. Encoding dominates conversion
# (``encode_png`` runs these settings through OpenCV for grey and RGB images, with PNG's "average" row filter
# alone: libpng's adaptive choice tries all five filters per row, ~1.6x the time of one; on noisy 224-px RGB and
# on grey blob images the "average" filter alone gives the adaptive sizes, on smooth upscaled RGB ~17 % more).
PNG_OPTIONS = {"compress_level": 1, "compress_type": zlib.Z_RLE}
# JPEG quality of a resized JPEG source (``--jpeg_quality``): libjpeg's scale, where 90 keeps 8x8-block artefacts
# below what the source's own compression left, at ~1/5 of the PNG bytes of the same pixels. Baseline (not
# progressive), no optimisation pass: the same pixels and Pillow version give the same bytes.
JPEG_QUALITY = 90
# Source kinds stored as they are when no resize is needed: what verl's image loader (Pillow) and every VQA release
# use. Other kinds (TIFF, BMP, GIF, WebP, 16-bit or palette PNG, CMYK JPEG) are decoded and stored as PNG or JPEG.
PASS_THROUGH = {"JPEG": ("L", "RGB"), "PNG": ("L", "RGB")}
# Pillow refuses images above twice this many pixels and warns above it; we turn the warning into an error.
DEFAULT_MAX_IMAGE_PIXELS = 64_000_000
# Qwen2.5-VL: 14-px patches merged 2x2, so sides that are multiples of 28 pass the processor unchanged.
QWEN_VL_FACTOR = 28
# Rows per parquet row group: bounds the writer's buffer (~40 MB of 224-px PNGs) and RLHFDataset reads it fine.
ROW_GROUP_ROWS = 256
# Largest parquet dictionary page: the image bytes of a row group are dictionary-encoded, so an image that several
# questions of one row group share is stored once (SLAKE asks ~20 questions per image, its files in image order).
# The row group bounds the dictionary; above this limit the writer falls back to plain pages, losing nothing.
DICTIONARY_PAGE_BYTES = 1 << 30
SPLITS = ("train", "val", "test")
Fitted = tuple[bytes, tuple[int, int]]  # an image as stored in a row: its encoded bytes and (width, height)


# --- images ----------------------------------------------------------------------------------------------------


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes (lossless, deterministic for the same pixels and OpenCV/Pillow version). ``L`` and ``RGB`` images
    go through ``encode_png_pixels``; other modes through Pillow."""
    if image.mode in ("L", "RGB"):
        return encode_png_pixels(np.asarray(image))
    buf = io.BytesIO()
    image.save(buf, format="PNG", **PNG_OPTIONS)
    return buf.getvalue()


def encode_png_pixels(pixels: np.ndarray) -> bytes:
    """PNG bytes of grey (H, W) or RGB (H, W, 3) uint8 pixels through OpenCV's libpng: ``PNG_OPTIONS``' deflate
    settings with the "average" row filter, ~2.5x faster than Pillow's encoder (MedMNIST's 224-px conversion is
    mostly this), straight from a numpy array."""
    import cv2

    options = [cv2.IMWRITE_PNG_COMPRESSION, PNG_OPTIONS["compress_level"]]
    options += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    options += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_AVG]
    ok, encoded = cv2.imencode(".png", pixels[..., ::-1] if pixels.ndim == 3 else pixels, options)
    if not ok:
        raise ValueError(f"OpenCV could not encode {pixels.shape} pixels as PNG")
    return encoded.tobytes()


def encode_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes at ``quality`` (deterministic for the same pixels, quality and Pillow version)."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@contextmanager
def _guarded_decoding(path: object, max_pixels: int) -> Iterator[None]:
    """Pillow's decompression-bomb limit set to ``max_pixels`` (its warning an error) around an open and decode;
    every failure a ``ConversionError`` naming ``path``."""
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels  # Pillow reads the limit at open()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except ConversionError:  # check_image_size's own verdict (a DroppedRow stays one)
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ConversionError(
            f"{path}: image: refused as a decompression bomb (limit {max_pixels} pixels): {err}"
        ) from err
    except (OSError, SyntaxError, ValueError) as err:  # UnidentifiedImageError is an OSError
        raise ConversionError(f"{path}: image: unreadable ({type(err).__name__}: {err})") from err
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _as_l_or_rgb(img: Image.Image) -> Image.Image:
    """A decoded image as ``L`` or ``RGB`` (16-bit / float grey stretched to 8 bits)."""
    if img.mode in ("L", "RGB"):
        return img
    if img.mode.startswith(("I", "F")):  # 16-bit / float grey (common in medical PNG and TIFF)
        return _to_8bit(np.asarray(img, dtype=np.float64))
    return img.convert("RGB")


def open_image(path: Path | str | IO[bytes], max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode an image file fully, as ``L`` or ``RGB`` (16-bit grey stretched to 8 bits); refuses decompression
    bombs and unreadable files with a ``ConversionError`` naming the file."""
    with _guarded_decoding(path, max_pixels), Image.open(path) as img:
        img.load()
        validate.check_image_size(img.size, f"{path}: image")
        return _as_l_or_rgb(img)


def fit_encoded(
    data: bytes, max_side: int, jpeg_quality: int = JPEG_QUALITY, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> Fitted:
    """An encoded image file as stored in a row, and its stored size: ``data`` itself when it is a JPEG or PNG of
    ``L``/``RGB`` pixels already at its ``fit_size`` (decoded once all the same, so a broken file is refused);
    otherwise decoded, fitted (``fast_resize``) and re-encoded in the source's kind: JPEG at ``jpeg_quality`` for
    a JPEG source, lossless PNG for every other. JPEGs of grey or RGB pixels (every VQA release's figures) go
    through ``_fit_jpeg``. Errors as ``open_image``'s, naming the image as ``<bytes>``."""
    with _guarded_decoding("<bytes>", max_pixels), Image.open(io.BytesIO(data)) as img:
        kind, size = img.format, img.size
        validate.check_image_size(size, "<bytes>: image")
        target = fit_size(size[0], size[1], max_side)
        quick = _fit_jpeg(data, img.mode, size, target, jpeg_quality) if kind == "JPEG" else None
        if quick is not None:
            return quick
        if target == size and img.mode in PASS_THROUGH.get(kind or "", ()):
            img.load()
            return data, size
        img.load()
        fitted = fast_resize(_as_l_or_rgb(img), target)
    return (encode_jpeg(fitted, jpeg_quality) if kind == "JPEG" else encode_png(fitted)), fitted.size


def draft_factor(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The libjpeg reduce-on-decode factor (1, 2, 4 or 8) for fitting ``size`` to ``target``: the largest that
    keeps both sides at least the target's (Pillow's ``draft`` picks the same).

    >>> draft_factor((2000, 1200), (448, 280)), draft_factor((512, 384), (448, 336)), draft_factor((900, 90), (448, 28))
    (4, 1, 2)
    """
    scale = min(size[0] // target[0], size[1] // target[1])
    return next(k for k in (8, 4, 2, 1) if scale >= k or k == 1)


def _fit_jpeg(data: bytes, mode: str, size: tuple[int, int], target: tuple[int, int], quality: int) -> Fitted | None:
    """A grey or RGB JPEG (header already checked by Pillow) decoded by libjpeg-turbo straight into an array
    (``simplejpeg``) at the ``draft_factor`` scale; passed through when at ``target``, else fitted
    (``fit_pixels``) and encoded as a baseline JPEG at ``quality`` with 4:2:0 chroma (Pillow's default for these
    qualities). Same decoder settings as Pillow's (accurate integer IDCT, smooth chroma upsampling), so the same
    pixels, without Pillow's copies between its buffers and numpy: about half the time per resized figure. None
    for any other mode, and for a file libjpeg warns about (strict decoding: truncated, extraneous bytes): Pillow
    then decides, as it did before this path, so what a release may hold is unchanged."""
    import simplejpeg

    if mode not in PASS_THROUGH["JPEG"]:
        return None
    factor = 1 if target == size else draft_factor(size, target)
    grey = mode == "L"
    expected = (-(-size[1] // factor), -(-size[0] // factor))  # libjpeg rounds a scaled side up
    try:
        pixels = simplejpeg.decode_jpeg(
            data, "GRAY" if grey else "RGB", min_factor=factor, min_width=expected[1], min_height=expected[0]
        )
    except ValueError:
        return None
    if pixels.shape[:2] != expected:  # a header that disagrees with the scan: Pillow's verdict
        return None
    if target == size:
        return data, size
    fitted = fit_pixels(pixels[..., 0] if grey else pixels, target)
    encoded = simplejpeg.encode_jpeg(
        fitted[..., None] if grey else fitted, quality, "GRAY" if grey else "RGB", "Gray" if grey else "420"
    )
    return encoded, target


def fast_resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` (``L`` or ``RGB``) at ``size`` (``fit_pixels``)."""
    if image.size == size:
        return image
    return Image.fromarray(fit_pixels(np.asarray(image), size), image.mode)


def fit_pixels(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``pixels`` ((H, W) or (H, W, 3) uint8) at ``size`` (width, height): averaged over integer blocks first
    (Pillow's ``reduce``) while that keeps them at least twice ``size``, then OpenCV's bicubic interpolation.
    Where ``resize`` (Pillow's antialiased bicubic) takes ~2/3 of a VQA figure's conversion, this takes ~1/10,
    with no aliasing but what a cubic kernel leaves at scales from 1/2 to 1."""
    import cv2

    height, width = pixels.shape[:2]
    if (width, height) == size:
        return pixels
    factor = min(width // (2 * size[0]), height // (2 * size[1]))
    if factor >= 2:
        pixels = np.asarray(Image.fromarray(pixels).reduce(factor))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_CUBIC)


def fit_png_file(path: Path, max_side: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Fitted:
    """A source file decoded (``open_image``), fitted (``resize`` to ``fit_size``) and PNG-encoded: the folder
    converter's work per image, run on a worker."""
    image = open_image(path, max_pixels)
    stored = resize(image, fit_size(*image.size, max_side))
    return encode_png(stored), stored.size


def encode_pixel_rows(rows: np.ndarray, image_size: int) -> list[bytes]:
    """PNG bytes of each uint8 image of ``rows`` ((N, H, W) or (N, H, W, 1|3)), resized to ``image_size`` square
    (bicubic; 0 keeps the size): MedMNIST's arrays, a chunk per worker job."""
    out = []
    for pixels in rows:
        pixels = pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
        if image_size > 0 and pixels.shape[:2] != (image_size, image_size):
            pixels = np.asarray(resize(Image.fromarray(pixels), (image_size, image_size)))
        out.append(encode_png_pixels(pixels))
    return out


def _to_8bit(pixels: np.ndarray) -> Image.Image:
    """Grey image of any depth stretched to 0-255 (per image min-max): Pillow's own conversion clips at 255."""
    low, high = float(pixels.min()), float(pixels.max())
    return Image.fromarray(np.round((pixels - low) / ((high - low) or 1.0) * 255).astype(np.uint8))


def fit_size(width: int, height: int, max_side: int, factor: int = QWEN_VL_FACTOR) -> tuple[int, int]:
    """Size to store an image at: scaled down (never up) so the longer side is ``max_side``, then each side rounded
    to the nearest multiple of ``factor``, so the Qwen-VL processor keeps it as is and pixel boxes keep their
    meaning. ``max_side=0`` keeps the size."""
    if max_side <= 0:
        return width, height
    scale = min(1.0, max_side / max(width, height))
    return (max(factor, round(width * scale / factor) * factor), max(factor, round(height * scale / factor) * factor))


def resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)


# --- subsets ---------------------------------------------------------------------------------------------------


def select_indices(labels: np.ndarray, n: int, *, balanced: bool, seed: int, stream: int = 0) -> np.ndarray:
    """Sorted indices of a subset of ``n`` samples (all if ``n < 0`` or ``n >= len``).

    ``balanced`` (single-label ``labels`` of shape (N,)) gives every class the same quota; a class with too few
    samples gives all it has and the rest is shared among the others (few-shot: ``n = shots * classes``).
    Multi-label data (N, K) is sampled uniformly. ``stream`` separates the random streams of the splits."""
    total = len(labels)
    if n < 0 or n >= total:
        return np.arange(total)
    if n == 0:
        return np.arange(0)
    rng = np.random.default_rng([seed, stream])
    if not balanced or labels.ndim != 1:
        return np.sort(rng.choice(total, size=n, replace=False))
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.zeros(len(classes), dtype=np.int64)
    remaining = n
    while remaining > 0:  # water-filling: share what is left among classes that still have samples
        open_classes = np.flatnonzero(quota < counts)
        share, extra = divmod(remaining, len(open_classes))
        add = np.full(len(open_classes), share)
        add[rng.permutation(len(open_classes))[:extra]] += 1
        add = np.minimum(add, counts[open_classes] - quota[open_classes])
        quota[open_classes] += add
        remaining -= int(add.sum())
    picked = [
        rng.choice(np.flatnonzero(labels == c), size=q, replace=False) for c, q in zip(classes, quota, strict=True) if q
    ]
    return np.sort(np.concatenate(picked))


def split_indices(
    n: int, val_fraction: float, test_fraction: float, seed: int, strata: Sequence[Any] | None = None
) -> dict[str, np.ndarray]:
    """Random train/val/test split of ``n`` items, per stratum (class) when ``strata`` is given."""
    validate.check_fractions(val_fraction, test_fraction)
    rng = np.random.default_rng(seed)
    keys = np.asarray(strata if strata is not None else np.zeros(n, dtype=np.int64))
    out: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for key in sorted(set(keys.tolist())):
        members = rng.permutation(np.flatnonzero(keys == key))
        n_test = math.floor(len(members) * test_fraction + 0.5)  # rounded half up: small classes get val/test too
        n_val = min(math.floor(len(members) * val_fraction + 0.5), len(members) - n_test)
        out["test"].append(members[:n_test])
        out["val"].append(members[n_test : n_test + n_val])
        out["train"].append(members[n_test + n_val :])
    return {s: np.sort(np.concatenate(parts)) if parts else np.arange(0) for s, parts in out.items()}


def assign_splits(
    samples: Sequence[Any], strata: Sequence[Any], val_fraction: float, test_fraction: float, seed: int
) -> None:
    """Give each sample (an object with a ``split`` attribute) that has no split a random one, per stratum;
    samples that come with a split keep it."""
    todo = [i for i, s in enumerate(samples) if not s.split]
    if todo:
        parts = split_indices(len(todo), val_fraction, test_fraction, seed, [strata[i] for i in todo])
        for split, indices in parts.items():
            for j in indices:
                samples[todo[j]].split = split


# --- parquet ---------------------------------------------------------------------------------------------------


IMAGE_BYTES_COLUMN = "images.list.element.bytes"  # parquet's path of the image bytes in verl's images column


def _leaf_columns(schema: Any) -> list[str]:
    """Parquet paths of the leaf columns of an Arrow ``schema`` (``prompt.list.element.content``, ...)."""
    import pyarrow as pa

    def leaves(name: str, kind: Any) -> list[str]:
        if pa.types.is_struct(kind):
            return [
                p for i in range(kind.num_fields) for p in leaves(f"{name}.{kind.field(i).name}", kind.field(i).type)
            ]
        if pa.types.is_list(kind):
            return leaves(f"{name}.list.element", kind.value_type)
        return [name]

    return [p for field in schema for p in leaves(field.name, field.type)]


class ParquetSink:
    """Appends rows to one parquet file in row groups of ``ROW_GROUP_ROWS``, so memory stays flat; verl's
    ``RLHFDataset`` reads it as any parquet (dictionary pages are decoded by the reader)."""

    def __init__(self, path: Path, schema: Any):
        import pyarrow.parquet as pq

        self.path, self.schema, self.rows = path, schema, 0
        self._buffer: list[dict[str, Any]] = []
        # Every column dictionary-encoded, the image bytes too: questions of one row group about one image store it
        # once (``DICTIONARY_PAGE_BYTES``); distinct images cost a hash each, no bytes.
        # JPEG and PNG bytes are compressed already: zstd would spend time on them for nothing.
        compression = {column: "zstd" for column in _leaf_columns(schema)} | {IMAGE_BYTES_COLUMN: "none"}
        self._writer = pq.ParquetWriter(
            path,
            schema,
            compression=compression,
            use_dictionary=True,
            dictionary_pagesize_limit=DICTIONARY_PAGE_BYTES,
        )

    def write(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        self.rows += 1
        if len(self._buffer) >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._buffer:
            self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self.schema))
            self._buffer.clear()

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def discard(self) -> None:
        self._buffer.clear()
        try:
            self._writer.close()
        finally:
            self.path.unlink(missing_ok=True)


class AtomicOutputs:
    """The output files of one run, written under temporary names and renamed only when the whole run succeeded:
    a failed or interrupted run leaves no partial parquet (and does not replace a previous good one)."""

    def __init__(self, output_dir: Path | str):
        self.output_dir = Path(output_dir).expanduser()
        self._sinks: dict[Path, ParquetSink] = {}
        self._may_be_empty: set[Path] = set()
        self._temp_paths: list[Path] = []  # recorded before the file exists: an interrupt in between leaves nothing
        self._texts: dict[Path, Path] = {}  # final -> temporary path of add_text files

    def open(self, name: str, schema: Any, may_be_empty: bool = False) -> ParquetSink:
        """A sink for ``name``; unless ``may_be_empty``, the run fails if it ends without rows (a useless file)."""
        final = self.output_dir / name
        if final in self._sinks:
            raise ValueError(f"{final}: opened twice in one run")
        if not self._sinks:
            validate.prepare_output_dir(self.output_dir)
            validate.remove_stale_temp_files(self.output_dir)
        self._temp_paths.append(temp_sibling(final))
        sink = ParquetSink(self._temp_paths[-1], schema)
        self._sinks[final] = sink
        if may_be_empty:
            self._may_be_empty.add(final)
        return sink

    def add_text(self, name: str, text: str) -> None:
        """A small text file (``manifest.json``) published with the parquet files, or not at all."""
        final = self.output_dir / name
        self._temp_paths.append(temp_sibling(final))
        self._texts[final] = self._temp_paths[-1]
        self._temp_paths[-1].write_text(text, encoding="utf-8")

    def check_complete(self) -> None:
        """Refuse to publish nothing, or an empty file nobody asked for (empty split, all rows filtered out)."""
        if not self._sinks:
            raise ConversionError(f"{self.output_dir}: no rows to write (the source has no usable samples)")
        empty = [final.name for final, sink in self._sinks.items() if not sink.rows and final not in self._may_be_empty]
        if empty:
            raise ConversionError(
                f"{self.output_dir}: {', '.join(empty)} would have no rows: check the split "
                "sizes, --val_fraction/--test_fraction or the source's split column"
            )

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()

    def publish(self) -> None:
        for final, sink in self._sinks.items():
            os.replace(sink.path, final)
        for final, temp in self._texts.items():
            os.replace(temp, final)

    def discard(self) -> None:
        try:
            for sink in self._sinks.values():
                sink.discard()
        finally:
            for path in self._temp_paths:
                path.unlink(missing_ok=True)


@contextmanager
def atomic_outputs(output_dir: Path | str) -> Iterator[AtomicOutputs]:
    """``with atomic_outputs(dir) as out: sink = out.open("train.parquet", schema); sink.write(row)``."""
    outputs = AtomicOutputs(output_dir)
    try:
        yield outputs
        outputs.close()
        outputs.check_complete()
    except OSError as err:  # disk full, folder removed or made read-only mid-run: one line, no partial output
        outputs.discard()
        raise ConversionError(f"{err.filename or outputs.output_dir}: {err.strerror or err}") from None
    except BaseException:
        outputs.discard()
        raise
    outputs.publish()
