"""A pytest plugin for ``bench_tests.py``: the CPU and wall time of each test, written as JSON when the session ends.

CPU time is what a shared machine inflates least: another job's load slows a test's wall time by the share of the
cores it takes, while the test's own CPU seconds stay nearly the same. A test's CPU is its process's user + system
time (every thread) plus that of the child processes it started and waited for (``RUSAGE_CHILDREN`` counts a child
once it has been waited for: a subprocess the test runs to the end is counted, a server it leaves running is not).

Loaded with ``-p pytest_cpu_time`` (its folder on ``PYTHONPATH``); the output path is ``$BENCH_TESTS_OUT`` (an
xdist worker writes ``<path>.<worker id>``). Node ids are written as pytest prints them.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Generator
from pathlib import Path

import pytest

OUT_ENV = "BENCH_TESTS_OUT"

_TIMES: dict[str, dict[str, float]] = {}


def cpu_seconds() -> float:
    """User + system seconds of this process (all threads) and of the children it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """Time one test's setup, call and teardown together (a fixture's cost falls on the first test that uses it,
    the same test in both revisions when both run the same files)."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    yield
    _TIMES[item.nodeid] = {"cpu": cpu_seconds() - cpu, "wall": time.perf_counter() - wall}


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the times of this process's tests."""
    path = os.environ.get(OUT_ENV)
    if not path:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # an xdist controller runs no test: it writes {}
    Path(f"{path}.{worker}" if worker else path).write_text(json.dumps(_TIMES, indent=0) + "\n")
