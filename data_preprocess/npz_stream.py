"""Read arrays of a (compressed) ``.npz`` in chunks of rows, never the whole array.

``np.load`` of an ``.npz`` decompresses a whole member on access (``mmap_mode`` is ignored for archives), and
MedMNIST's files are ``savez_compressed``: PathMNIST at 224 px is a 13.5 GB ``train_images`` member. An ``.npz``
is a zip of ``.npy`` files, so we stream the member through ``zipfile`` (inflating as we go), parse the ``.npy``
header with ``numpy.lib.format`` and cut the byte stream into rows.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from .common import ConversionError

_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


class NpzStream:
    """An open ``.npz``: ``header(key)`` gives (shape, dtype) cheaply, ``iter_chunks`` and ``read`` decode rows."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as err:
            raise ConversionError(f"{self.path}: not a readable .npz (truncated or not a zip archive): {err}") from err
        self.keys = sorted(n[: -len(".npy")] for n in self._zip.namelist() if n.endswith(".npy"))

    def __enter__(self) -> NpzStream:
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def _open(self, key: str):
        """The member stream positioned after its ``.npy`` header, plus shape and dtype."""
        if key not in self.keys:
            raise ConversionError(f"{self.path}: missing array '{key}' (arrays in the file: {self.keys})")
        stream = self._zip.open(f"{key}.npy")
        try:
            version = npy_format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except _READ_ERRORS as err:
            stream.close()
            raise ConversionError(f"{self.path}: array '{key}': unreadable .npy header: {err}") from err
        if dtype.hasobject:  # the equivalent of np.load(allow_pickle=False)
            stream.close()
            raise ConversionError(f"{self.path}: array '{key}': object arrays (pickles) are refused")
        if not shape:
            stream.close()
            raise ConversionError(f"{self.path}: array '{key}': expected rows, got a scalar")
        if fortran and len(shape) > 1:
            stream.close()
            raise ConversionError(f"{self.path}: array '{key}': Fortran-ordered arrays are not supported")
        return stream, shape, dtype

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        stream, shape, dtype = self._open(key)
        stream.close()
        return shape, dtype

    def iter_chunks(self, key: str, chunk_rows: int = 256) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_row, rows)`` chunks of at most ``chunk_rows`` rows along axis 0, in order."""
        stream, shape, dtype = self._open(key)
        row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        n = shape[0]
        with stream:
            for start in range(0, n, chunk_rows):
                rows = min(chunk_rows, n - start)
                try:
                    data = stream.read(rows * row_bytes)
                except _READ_ERRORS as err:
                    raise ConversionError(f"{self.path}: array '{key}': corrupt data near row {start}: {err}") from err
                if len(data) != rows * row_bytes:
                    raise ConversionError(
                        f"{self.path}: array '{key}': truncated: header says {n} rows of "
                        f"{shape[1:]} {dtype}, data ends near row {start + len(data) // row_bytes}"
                    )
                yield start, np.frombuffer(data, dtype=dtype).reshape((rows, *shape[1:]))

    def read(self, key: str) -> np.ndarray:
        """A whole (small) array, e.g. labels."""
        shape, dtype = self.header(key)
        chunks = [rows for _, rows in self.iter_chunks(key, chunk_rows=max(1, shape[0]))]
        return chunks[0].copy() if chunks else np.empty(shape, dtype)
