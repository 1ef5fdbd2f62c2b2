"""Medical VQA benchmarks -> verl parquet (row contract in docs/vqa.md).

    python -m data_preprocess.vqa --benchmark slake --input ~/SLAKE --output_dir ~/data/slake

One module per benchmark (``vqa_rad``, ``slake``, ``pathvqa``, ``pmc_vqa``, ``omnimedvqa``, ``medxpertqa_mm``, ...)
reads the public release and registers itself in ``registry``; ``pipeline.convert`` writes ``<split>.parquet``. The
modules are found, not listed: every module of this package is imported once (``pkgutil`` over ``__path__``), so a
new benchmark is its module alone (plus its test fixture and preset).
"""

from __future__ import annotations

import importlib
import pkgutil


def _load_all() -> None:
    """Import every module of this package (each benchmark module registers its reader; idempotent). Names starting
    with ``_`` (``__main__``, the command line) are not modules to load."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


def benchmark_names() -> list[str]:
    """The registered benchmark names, sorted.

    >>> {"slake", "vqa_rad"} <= set(benchmark_names())
    True
    """
    from .registry import BENCHMARKS

    _load_all()
    return sorted(BENCHMARKS)


from .pipeline import convert  # noqa: E402  (after _load_all: the registry imports it from here)

__all__ = ["benchmark_names", "convert"]
