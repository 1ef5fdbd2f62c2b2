"""Shared by the benchmark scripts: the machine facts a result is read against, and writing a result as JSON plus
a markdown summary beside it (``benchmarks/results/<name>.json`` / ``.md``)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine_info(**extra: Any) -> dict[str, Any]:
    """Python version, CPU count and the 1-minute load average (the machine is shared: ratios, not times, count)."""
    return {
        "python": platform.python_version(),
        **extra,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def save(out: Path, result: dict[str, Any], markdown: str) -> None:
    """Write ``result`` to ``out`` (JSON) and ``markdown`` beside it (``.md``), then print the JSON."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(json.dumps(result, indent=2))
