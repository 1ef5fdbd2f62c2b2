"""Input validation shared by every converter: command-line values, output folders, images, task cards, splits and
interrupts. One place per class of bad input, so a converter only calls these and every converter fails alike:
careless input ends with one ``error: <file or flag>: <what is wrong>`` line and no partial output, never a traceback
or a useless file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .atomic import write_text_atomic
from .errors import ERROR_PREFIX, USER_ERROR_EXIT, ConversionError, DroppedRow, UserError

# Longest stored side a converter accepts (--image_size, --max_side). Qwen2.5-VL's default max_pixels is about
# 3584 x 3584; larger images are only resized down again, and --image_size 50000 ran for minutes.
MAX_IMAGE_SIDE = 4096
EXIT_INTERRUPTED = 130  # shell convention for SIGINT; SIGTERM exits 128 + 15


# --- command-line values (argparse ``type=`` functions: argparse names the flag in its error) --------------------


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def split_size(text: str) -> int:
    """``--val_size``/``--test_size``: -1 (all rows) or a count >= 0."""
    value = _integer(text)
    if value < -1:
        raise argparse.ArgumentTypeError(f"{value}: expected -1 (all rows) or a count >= 0")
    return value


def train_size(text: str) -> int:
    """``--train_size``: -1 (all rows) or a count >= 1 (an empty train split is useless)."""
    value = _integer(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"{value}: expected -1 (all rows) or a count >= 1")
    return value


def image_side(text: str) -> int:
    """``--image_size``/``--max_side``: 0 (keep the source size) or a side in [1, MAX_IMAGE_SIDE]."""
    value = _integer(text)
    if not 0 <= value <= MAX_IMAGE_SIDE:
        raise argparse.ArgumentTypeError(f"{value}: expected 0 (keep the size) or a side in [1, {MAX_IMAGE_SIDE}]")
    return value


def positive_int(text: str) -> int:
    """A count >= 1 (size limits)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: expected an integer >= 1")
    return value


JPEG_QUALITIES = (1, 95)  # Pillow: above 95 only grows the file (its documentation)


def jpeg_quality(text: str) -> int:
    """``--jpeg_quality``: an integer in ``JPEG_QUALITIES``."""
    value = _integer(text)
    if not JPEG_QUALITIES[0] <= value <= JPEG_QUALITIES[1]:
        low, high = JPEG_QUALITIES
        raise argparse.ArgumentTypeError(f"{value}: expected a JPEG quality in [{low}, {high}]")
    return value


def check_jpeg_quality(value: int) -> None:
    """The same rule for the Python API."""
    if isinstance(value, bool) or not isinstance(value, int) or not JPEG_QUALITIES[0] <= value <= JPEG_QUALITIES[1]:
        raise ConversionError(
            f"--jpeg_quality {value!r}: expected an integer in [{JPEG_QUALITIES[0]}, {JPEG_QUALITIES[1]}]"
        )


def fraction(text: str) -> float:
    """``--val_fraction``/``--test_fraction``: a finite number in [0, 1) (``nan`` passed every comparison)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 <= value < 1):
        raise argparse.ArgumentTypeError(f"{text}: expected a number in [0, 1)")
    return value


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """The same rule for the Python API: finite fractions in [0, 1) with a sum below 1."""
    values = (val_fraction, test_fraction)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v < 1 for v in values) or sum(values) >= 1:
        raise ConversionError(
            f"--val_fraction {val_fraction} and --test_fraction {test_fraction}: need finite "
            "numbers >= 0 with a sum < 1"
        )


def check_split_sizes(split_sizes: Mapping[str, int] | None) -> None:
    """The command-line rules of ``split_size``/``train_size`` for the Python API."""
    for split, value in (split_sizes or {}).items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConversionError(f"--{split}_size {value!r}: expected an integer")
        try:
            (train_size if split == "train" else split_size)(str(value))
        except argparse.ArgumentTypeError as err:
            raise ConversionError(f"--{split}_size {value}: {err}") from None


def may_be_empty(split: str, split_sizes: Mapping[str, int] | None) -> bool:
    """A split may be written without rows only when its size was explicitly 0, and never the train split."""
    return split != "train" and (split_sizes or {}).get(split) == 0


# --- output folder ---------------------------------------------------------------------------------------------


def prepare_output_dir(output_dir: Path, option: str = "--output_dir") -> None:
    """Create ``output_dir`` or refuse it in one line: a file, under a file, not writable. ``option`` is the flag
    named in the message (the evaluation tools call it ``--out``)."""
    flag = f"{option} {output_dir}"
    for parent in (output_dir, *output_dir.parents):
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == output_dir else f"is under {parent}, which is a file"
            raise ConversionError(f"{flag}: {where}; give a folder")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConversionError(f"{flag}: cannot create the folder ({err.strerror or err})") from None
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise ConversionError(f"{flag}: the folder is not writable (read-only?)")


def write_output_text(path: Path, text: str, option: str) -> None:
    """Write ``text`` to the file a flag names, atomically; a folder, a parent that is a file, a read-only or full
    disk is one error naming the flag and the path (no partial file)."""
    if path.is_dir():
        raise ConversionError(f"{option} {path}: is a folder; give a file name")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise ConversionError(f"{option} {path}: {parent} is a file, not a folder")
    try:
        write_text_atomic(path, text)
    except OSError as err:
        raise ConversionError(f"{option} {path}: cannot write ({err.strerror or err})") from None


_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")


def remove_stale_temp_files(output_dir: Path, suffixes: Sequence[str] = (".parquet", ".json")) -> list[Path]:
    """Delete the hidden ``.<name>.<pid>.tmp`` files an earlier run of a converter left behind when it was killed
    (SIGKILL, power loss); files of a process that is still running are kept. ``suffixes``: the kinds of file the
    calling tool writes (a converter parquet; the evaluation its report files)."""
    removed = []
    for path in output_dir.glob(".*.tmp"):
        match = _TEMP_NAME.match(path.name)
        if not match or not match["name"].endswith(tuple(suffixes)) or _alive(int(match["pid"])):
            continue
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass  # another run cleaned it first, or it is not ours to delete
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own pid cannot own a file before we opened it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


# --- source data -----------------------------------------------------------------------------------------------


# Qwen-VL's processor (qwen_vl_utils.smart_resize) refuses images whose long side is over 200 times the short one;
# resizing them to multiples of 28 px would squash a 20000x1 strip to 448x28, a picture of nothing.
MAX_ASPECT_RATIO = 200


def check_image_size(size: tuple[int, int], where: str) -> None:
    """Width and height of a decoded image or an array: both at least 1 (0x0 images encode to nothing usable),
    and an aspect ratio Qwen-VL accepts (``MAX_ASPECT_RATIO``; a ``DroppedRow``: streaming converters skip it)."""
    if len(size) != 2 or min(size) < 1:
        raise ConversionError(f"{where}: image of size {size[0]}x{size[1]}: expected at least 1x1 pixels")
    if max(size) > MAX_ASPECT_RATIO * min(size):
        raise DroppedRow(where, f"aspect ratio over {MAX_ASPECT_RATIO} (Qwen-VL refuses it)")


def first_bad_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 is in ``path``: "byte 0xe9 at offset 1234" (the whole-file offset;
    a decoder's own offset counts from its current chunk). Read in 1 MB chunks: memory stays flat."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            pending = len(decoder.getstate()[0])  # bytes of a character split across chunks, held back
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as err:
                return f"byte {err.object[err.start]:#04x} at offset {offset - pending + err.start}"
            if not chunk:
                return "an incomplete character at the end"
            offset += len(chunk)


def not_utf8(path: Path, what: str) -> ConversionError:
    """The one error for a text file that is not UTF-8, naming the file and the first bad byte's offset."""
    return ConversionError(f"{path}: {what} is not UTF-8 text ({first_bad_utf8(path)}); save it as UTF-8")


def read_text(path: Path, what: str) -> str:
    """A UTF-8 text file (a BOM is accepted); other encodings are refused naming the file and the byte."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConversionError(
            f"{path}: {what} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset "
            f"{err.start}); save it as UTF-8"
        ) from None
    except OSError as err:
        raise ConversionError(f"{path}: cannot read the {what} ({err.strerror or err})") from None


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases (``*name``): a 1 KB "billion laughs" card expands to 9^9 nodes
    through them, and no card or template needs one."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{str(event.anchor)[:40]} refused (write the value out)", event.start_mark
            )
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """YAML text parsed safely and without aliases (``_NoAliasLoader``)."""
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass


def parse_document(text: str, where: str, *, expect: type, what: str, fmt: str = "yaml") -> Any:
    """``text`` parsed as YAML or JSON (``fmt``), which must be an ``expect`` (``dict``, ``list``): bad syntax or
    another type is one error naming ``where`` and ``what`` was expected."""
    try:
        data = json.loads(text) if fmt == "json" else load_yaml(text)
    except json.JSONDecodeError as err:
        raise ConversionError(f"{where}: not valid JSON (line {err.lineno}: {err.msg})") from None
    except RecursionError:
        raise ConversionError(f"{where}: nested too deeply to parse (a hostile or broken file)") from None
    except yaml.YAMLError as err:
        raise ConversionError(f"{where}: not valid YAML: {err}") from None
    if not isinstance(data, expect):
        raise ConversionError(f"{where}: expected {what}, got {type(data).__name__}")
    return data


def check_unique_ids(entries: Sequence[tuple[Any, str]], source: str) -> None:
    """``(id, where)`` pairs: the first repeated id is refused naming both entries (a COCO image id twice would
    silently give one image's boxes to the other)."""
    first: dict[Any, str] = {}
    for key, where in entries:
        try:
            previous = first.setdefault(key, where)
        except TypeError:
            continue  # unhashable ids are refused by the reader's own field checks
        if previous != where:
            raise ConversionError(f"{source}: duplicate image id {key!r} in {previous} and {where}")


def check_option_style(labels: Sequence[str], option_style: str, where: str) -> None:
    """Refuse an option style whose token of one option is the name of another label: with ``number`` and labels
    named "0".."4", "2. 1" is listed and the answer "1" could mean either (the reward reads names first). A label
    named like its own token ("A. a") is harmless."""
    if option_style not in ("letter", "number"):
        return
    tokens = (
        [str(i + 1) for i in range(len(labels))]
        if option_style == "number"
        else [chr(ord("a") + i) for i in range(len(labels))]
    )
    clash = [
        name
        for i, name in enumerate(labels)
        if name.strip().casefold() in tokens and tokens.index(name.strip().casefold()) != i
    ]
    if clash:
        raise ConversionError(
            f"{where}: --option_style {option_style} collides with label name(s) {clash}: an "
            "answer like that would name both an option and a label; use another option style"
        )


# --- interrupts --------------------------------------------------------------------------------------------------


class Interrupted(BaseException):
    """SIGTERM turned into an exception, so the atomic writer discards its temporary files on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def run_guarded(main_fn: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None) -> Any:
    """Run a command's main and return what it returns: a bad input ends with its one-line message (exit 2);
    Ctrl-C or SIGTERM with one line and exit 130 / 143, after the temporary files are removed; never a
    traceback."""

    def on_term(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return main_fn(argv)
    except UserError as err:
        print(f"{ERROR_PREFIX} {err}", file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT) from None
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Interrupted as stop:
        print("terminated: nothing written", file=sys.stderr)
        raise SystemExit(128 + stop.signum) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
