"""Deprecated name of ``data_preprocess.grounding`` (the task type is ``grounding``), kept for the imports and
scripts written before the rename: importing it warns and gives that very module, and
``python -m data_preprocess.localization`` prints a note on stderr and runs its command line."""

from __future__ import annotations

import sys
import warnings

from . import grounding

NOTE = (
    "data_preprocess.localization is deprecated and will be removed: use data_preprocess.grounding "
    "(python -m data_preprocess.grounding)"
)

if __name__ == "__main__":
    from .cli import run_cli

    print(f"note: {NOTE}", file=sys.stderr)
    run_cli(grounding.main)
else:
    warnings.warn(NOTE, DeprecationWarning, stacklevel=2)  # importlib's frames are skipped: names the importer
    sys.modules[__name__] = grounding
