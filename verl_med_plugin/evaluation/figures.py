"""Saving the evaluation's figures: matplotlib's Agg backend (no display on training hosts), one resolution, a
tight bounding box (long class names stay whole) and an atomic write. Shared by the report's plots and the table's,
so neither module imports the other for it."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen

from data_preprocess.atomic import atomic_path  # noqa: E402

DPI = 120

__all__ = ["DPI", "plt", "save_figure"]


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (atomically) and close it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
