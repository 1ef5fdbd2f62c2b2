"""The one place that turns a path a dataset release names (an image path in a question file, a CSV cell, a COCO
``file_name``, a zip member) into something to read. A release is downloaded from the internet and converted on
machines that hold credentials; the parquet it produces is shared. So every name is resolved inside the release
root after ``..`` and symbolic links (file or folder) are resolved, or refused with one line naming the record and
the path, "outside the dataset folder"; the message is the same whether or not the target exists, so a release
cannot probe the converting machine.

Zip members are read through the same rule, with a per-member and a total uncompressed-size cap checked against
the member headers before inflating and again while streaming the read (headers can lie).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import ConversionError
from .errors import excerpt as _short

OUTSIDE = "outside the dataset folder"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ZipLimits:
    """Uncompressed-size caps of the zip members a converter reads.

    The defaults fit the largest real releases with room to spare: single images in the VQA releases are a few MB
    (the largest OmniMedVQA fundus photographs ~10 MB), and Pillow refuses images above 64 M pixels anyway; the
    largest archive, PMC-VQA's ``images.zip`` (~18 GB unpacked), is well below the total cap.
    """

    member_bytes: int = 64 << 20  # one member (an image, a question file)
    total_bytes: int = 64 << 30  # every member one run reads from one archive, and the archive's header total


_LIMITS: ContextVar[ZipLimits] = ContextVar("zip_limits", default=ZipLimits())


def zip_limits() -> ZipLimits:
    """The caps in force (``using_zip_limits`` sets them for one conversion)."""
    return _LIMITS.get()


@contextmanager
def using_zip_limits(limits: ZipLimits | None) -> Iterator[None]:
    """Read zips with ``limits`` inside the block (``None``: the limits already in force)."""
    token = _LIMITS.set(limits or _LIMITS.get())
    try:
        yield
    finally:
        _LIMITS.reset(token)


def clean_relative(name: str, where: str) -> PurePosixPath:
    """A released name as a relative path: back slashes read as folder separators, leading ``/`` and ``./``
    dropped (releases write ``/imgs/x.jpg`` for "under the release"), ``..`` collapsed; one that climbs above the
    release root is refused.

    >>> clean_relative("./imgs\\\\xmlab1/../xmlab2/source.jpg", "f: 1")
    PurePosixPath('imgs/xmlab2/source.jpg')
    >>> clean_relative("x/../../secret.png", "f: record 3")
    Traceback (most recent call last):
    ...
    data_preprocess.errors.ConversionError: f: record 3: image path 'x/../../secret.png' is outside the dataset folder
    """
    parts: list[str] = []
    for part in name.replace("\\", "/").split("/"):
        if part == ".." and parts:
            parts.pop()
        elif part == ".." or "\x00" in part:
            raise ConversionError(f"{where}: image path {_short(name)} is {OUTSIDE}")
        elif part not in ("", "."):
            parts.append(part)
    if not parts:
        raise ConversionError(f"{where}: image path {_short(name)} names no file")
    return PurePosixPath(*parts)


class ReleaseRoot:
    """The folder a release was given as; ``resolve`` maps its names to files inside it."""

    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser().resolve()

    def inside(self, path: Path) -> bool:
        """``path`` (links and ``..`` resolved) is the root or under it."""
        return path.resolve().is_relative_to(self.root)

    def resolve(self, base: Path, name: str | PurePosixPath, where: str) -> Path:
        """``base / name`` with links resolved, if inside the root; else the one "outside" error. Nothing is
        checked for existence first, so the answer does not depend on what exists outside."""
        relative = name if isinstance(name, PurePosixPath) else clean_relative(name, where)
        candidate = (Path(base) / Path(*relative.parts)).resolve()
        if not candidate.is_relative_to(self.root):
            raise ConversionError(f"{where}: image path {_short(str(name))} is {OUTSIDE}")
        return candidate

    def resolve_given(self, base: Path, name: str, where: str) -> Path:
        """A path from a file (CSV cell, COCO ``file_name``) relative to ``base``, resolved inside the root."""
        if not isinstance(name, str):
            raise ConversionError(f"{where}: expected an image path, got {type(name).__name__}")
        return self.resolve(base, clean_relative(name, where), where)


def safe_member_name(name: str) -> PurePosixPath | None:
    """A zip member's name as a clean relative path, or None for names that climb out or are absolute (never
    looked up: a release's safe names cannot reach them).

    >>> safe_member_name("imgs/a.jpg"), safe_member_name("../../etc/passwd"), safe_member_name("/abs/x")
    (PurePosixPath('imgs/a.jpg'), None, None)
    """
    text = name.replace("\\", "/")
    if text.startswith("/") or "\x00" in text or (len(text) > 1 and text[1] == ":"):
        return None
    parts = PurePosixPath(text).parts
    if ".." in parts:
        return None
    return PurePosixPath(*parts) if parts else None


class ZipReader:
    """Reads members of one archive under the size caps (``zip_limits``), counting the bytes one run inflates."""

    def __init__(self, path: Path):
        self.path = path
        self.archive = zipfile.ZipFile(path)
        self.inflated = 0
        limits = zip_limits()
        declared = sum(info.file_size for info in self.archive.infolist())
        if declared > limits.total_bytes:
            self.archive.close()
            raise ConversionError(
                f"{path}: members would unpack to {declared} bytes, over the {limits.total_bytes}-byte limit "
                "(--zip_total_limit_mb)"
            )

    def names(self) -> list[str]:
        return self.archive.namelist()

    def read(self, member: str, where: str) -> bytes:
        """The member's bytes; a size over the caps, a bad CRC, a password or a broken archive is one error
        naming the archive and the member, raised before (headers) or while (stream) inflating."""
        limits = zip_limits()
        label = f"{where}: {self.path}: member {_short(member)}"
        try:
            info = self.archive.getinfo(member)
        except KeyError:
            raise ConversionError(f"{label}: not in the archive") from None
        cap = min(limits.member_bytes, limits.total_bytes - self.inflated)
        if info.file_size > cap:
            raise ConversionError(f"{label}: unpacks to {info.file_size} bytes, over the {_limit_text(limits)}")
        chunks: list[bytes] = []
        size = 0
        try:
            with self.archive.open(info) as handle:
                while chunk := handle.read(_CHUNK):
                    size += len(chunk)
                    if size > cap:  # the header understated the size: stop inflating now
                        raise ConversionError(
                            f"{label}: unpacks to more than {cap} bytes, over the {_limit_text(limits)}"
                        )
                    chunks.append(chunk)
        except zipfile.BadZipFile as err:
            raise ConversionError(f"{label}: corrupt ({err})") from None
        except RuntimeError as err:  # zipfile: "File ... is encrypted, password required for extraction"
            what = "is encrypted (password required)" if "encrypted" in str(err) else f"cannot be read ({err})"
            raise ConversionError(f"{label}: {what[:200]}") from None
        except (OSError, EOFError, NotImplementedError, ValueError) as err:
            raise ConversionError(f"{label}: cannot be read ({type(err).__name__}: {_short(str(err), 120)})") from None
        self.inflated += size
        return b"".join(chunks)

    def close(self) -> None:
        self.archive.close()


def _limit_text(limits: ZipLimits) -> str:
    return (
        f"limits ({limits.member_bytes} bytes per member, {limits.total_bytes} in all: --zip_member_limit_mb, "
        "--zip_total_limit_mb)"
    )


def read_regular_file(path: Path, where: str) -> bytes:
    """A file resolved inside the release; anything but a regular file reads as "not found" (a fifo or device
    would block or never end)."""
    try:
        if not path.is_file():
            raise ConversionError(f"{where}: not found")
        return path.read_bytes()
    except OSError as err:
        raise ConversionError(f"{where}: cannot read ({err.strerror or err})") from None


def is_zip(path: Path) -> bool:
    """``path`` is a readable zip archive (a folder or a missing file is not)."""
    try:
        return path.is_file() and zipfile.is_zipfile(path)
    except OSError:
        return False


__all__ = [
    "OUTSIDE",
    "ReleaseRoot",
    "ZipLimits",
    "ZipReader",
    "clean_relative",
    "is_zip",
    "read_regular_file",
    "safe_member_name",
    "using_zip_limits",
    "zip_limits",
]
