"""Medical VQA benchmarks -> verl parquet (row contract in docs/vqa.md).

    python -m data_preprocess.vqa --benchmark slake --input ~/SLAKE --output_dir ~/data/slake

One module per benchmark (``vqa_rad``, ``slake``, ``pathvqa``, ``pmc_vqa``, ``omnimedvqa``, ``medxpertqa_mm``)
reads the public release and registers itself in ``registry``; ``pipeline.convert`` writes ``<split>.parquet``.
"""

from __future__ import annotations

import importlib

MODULES = ("vqa_rad", "slake", "pathvqa", "pmc_vqa", "omnimedvqa", "medxpertqa_mm")


def _load_all() -> None:
    """Import every benchmark module, so each registers its reader (idempotent)."""
    for module in MODULES:
        importlib.import_module(f"{__name__}.{module}")


def benchmark_names() -> list[str]:
    """The registered benchmark names.

    >>> benchmark_names()
    ['medxpertqa_mm', 'omnimedvqa', 'pathvqa', 'pmc_vqa', 'slake', 'vqa_rad']
    """
    from .registry import BENCHMARKS

    _load_all()
    return sorted(BENCHMARKS)


from .pipeline import convert  # noqa: E402  (after MODULES: the registry imports _load_all from here)

__all__ = ["MODULES", "benchmark_names", "convert"]
