"""Atomic output: every file or folder verl-med writes appears whole or not at all.

Write to a temporary name beside the target, rename over it only when the writer finished: an interrupted or
failed run leaves neither a truncated file nor a half-filled folder, and a previous good output stays in place.
Converters, generation, merged models and reports all go through ``atomic_path``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_sibling(path: Path) -> Path:
    """The temporary name for ``path``: hidden, in the same folder (so the rename stays on one file system), and
    tagged with the process id, so parallel writers and stale files of killed runs are told apart."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_path(path: Path | str, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` only if the block ends without an exception.

    Args:
        path: the final file (or folder, with ``directory=True``); its parent is created.
        directory: yield an empty temporary folder instead of a file name; an existing ``path`` folder is
            replaced as a whole.

    Returns:
        A context manager yielding the temporary path.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "report.md"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    >>> try:
    ...     with atomic_path(target) as tmp:
    ...         _ = tmp.write_text("half")
    ...         raise RuntimeError("interrupted")
    ... except RuntimeError:
    ...     pass
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('done', ['report.md'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) if directory else temp_sibling(path)
    try:
        yield tmp
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path | str, text: str) -> Path:
    """``path.write_text(text)``, atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
