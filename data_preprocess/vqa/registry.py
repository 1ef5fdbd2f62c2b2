"""The benchmarks ``python -m data_preprocess.vqa --benchmark NAME`` knows, by name.

A benchmark module registers one reader: ``read(input, stack, **options)`` checks the released layout under
``input`` and returns, per split, a function yielding that split's ``VQAItem`` objects in release order. Zips it
opens go on ``stack`` (an ``ExitStack``) so they close when the run ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from ..common import ConversionError
from .core import Drop, VQAItem

SplitItems = Callable[[], Iterable[VQAItem | Drop]]
Reader = Callable[..., dict[str, SplitItems]]


@dataclass(frozen=True)
class ExampleRun:
    """What ``examples/vqa/run.sh <name>`` needs of a benchmark beyond its reader: the facts that differ per
    benchmark live here, with the reader, so a new benchmark needs no preset or script of its own."""

    download: str = ""  # the shell command that fetches the release; a missing <NAME>_DIR prints it
    convert: tuple[str, ...] = ()  # converter flags beyond --benchmark/--input/--output_dir (e.g. --val_from_train)
    train: tuple[str, ...] = ("trainer.total_epochs=10",)  # Hydra overrides: the run's length, its limits
    evaluate_split: str = "test"  # the split the final evaluation reads (the one the benchmark is reported on)
    train_on: str = ""  # a test-only benchmark trains and validates on this benchmark's train/val splits


@dataclass(frozen=True)
class Benchmark:
    name: str  # extra_info.dataset and the data_source suffix
    card: str  # the dataset card the reader follows (docs/vqa.md cites it)
    layout: str  # what --input points at, for the help text and errors
    read: Reader
    options: tuple[str, ...] = ()  # keyword options of ``read`` beyond (input, stack)
    splits: tuple[str, ...] = ()  # the splits every copy of the release has: one absent is an error, not skipped
    run: ExampleRun = ExampleRun()  # how the example run converts, trains and evaluates it


BENCHMARKS: dict[str, Benchmark] = {}


def register(
    name: str,
    *,
    card: str,
    layout: str,
    options: tuple[str, ...] = (),
    splits: tuple[str, ...] = (),
    run: ExampleRun = ExampleRun(),
) -> Callable[[Reader], Reader]:
    """Decorator: ``@register("slake", card=..., layout=...)`` over the module's ``read`` function."""

    def wrap(read: Reader) -> Reader:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} registered twice")
        BENCHMARKS[name] = Benchmark(
            name=name, card=card, layout=layout, read=read, options=options, splits=splits, run=run
        )
        return read

    return wrap


def get_benchmark(name: str) -> Benchmark:
    """The registered benchmark, or one error listing the known names.

    >>> get_benchmark("slake").name
    'slake'
    """
    from . import _load_all

    _load_all()
    if name not in BENCHMARKS:
        raise ConversionError(f"--benchmark {name!r}: unknown; choose from {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]


def open_reader(benchmark: Benchmark, input_path: Path, stack: ExitStack, **options) -> dict[str, SplitItems]:
    """Run the reader on ``input_path``; a missing input is one error naming it."""
    if not input_path.exists():
        raise ConversionError(
            f"--input {input_path}: no such file or folder ({benchmark.name} expects {benchmark.layout})"
        )
    unknown = sorted(k for k, v in options.items() if v is not None and k not in benchmark.options)
    if unknown:
        raise ConversionError(f"--benchmark {benchmark.name}: option(s) {unknown} apply to other benchmarks only")
    return benchmark.read(input_path, stack, **{k: v for k, v in options.items() if k in benchmark.options})
