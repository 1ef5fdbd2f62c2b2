"""The CPU-bound part of a conversion (decoding, resizing, encoding images) on ``--num_proc`` processes.

The converter stays one loop in one process: it reads the release, submits each row's image work, and writes the
rows in submission order (``in_order``), so the output is byte-identical whatever ``num_proc`` is. At most
``window`` jobs are in flight, so memory stays bounded however long the release. Worker processes come from a
``forkserver`` (no fork of a process running pyarrow or tqdm threads); with ``num_proc=1`` the work runs inline.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
JOBS_PER_PROCESS = 4  # in flight per process: enough to keep every core busy while the loop writes a row group


def default_num_proc() -> int:
    """Every core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def done(fn: Callable[..., R], *args: Any) -> Future[R]:
    """``fn(*args)`` run now, as a finished future (its exception kept for ``result()``, as a worker's would be)."""
    future: Future[R] = Future()
    try:
        future.set_result(fn(*args))
    except Exception as err:  # re-raised by result(), at the row's turn
        future.set_exception(err)
    return future


class Workers:
    """``submit(fn, *args)``: a future of ``fn(*args)``, from ``num_proc`` processes (inline when 1).
    ``fn`` must be a module-level function and its arguments picklable."""

    def __init__(self, num_proc: int | None = None):
        self.num_proc = max(1, num_proc or default_num_proc())
        self.window = self.num_proc * JOBS_PER_PROCESS
        self._pool: Executor | None = None

    def submit(self, fn: Callable[..., R], *args: Any) -> Future[R]:
        if self.num_proc == 1:
            return done(fn, *args)
        if self._pool is None:  # started on the first job: a run that fails early spawns nothing
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["data_preprocess.common"])
            self._pool = ProcessPoolExecutor(self.num_proc, mp_context=context)
        return self._pool.submit(fn, *args)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def in_order(jobs: Iterable[T], window: int) -> Iterator[T]:
    """``jobs`` (each holding the futures of its work) in the order given, each yielded once ``window`` later ones
    were submitted (or the input ended): the caller's ``future.result()`` then mostly finds the work done.

    >>> [(job, future.result()) for job, future in in_order(((x, done(abs, x)) for x in (-2, 3, -1)), window=2)]
    [(-2, 2), (3, 3), (-1, 1)]
    """
    pending: deque[T] = deque()
    for job in jobs:
        pending.append(job)
        if len(pending) > window:
            yield pending.popleft()
    while pending:
        yield pending.popleft()
