"""The evaluation report: ``metrics.json``, ``summary.md`` (tables runs x metrics, as in the paper) and PNG plots,
split by job: ``summary`` (the markdown), ``plots`` (the PNGs), ``writer`` (the files, staged and moved in
together); the report's shape is ``records.Report``. This module keeps the names callers import from here.
"""

from __future__ import annotations

from verl_med_plugin.evaluation.figures import DPI, plt, save_figure
from verl_med_plugin.evaluation.plots import write_plots
from verl_med_plugin.evaluation.summary import markdown_summary
from verl_med_plugin.evaluation.writer import json_safe, write_report

__all__ = ["DPI", "json_safe", "markdown_summary", "plt", "save_figure", "write_plots", "write_report"]
