"""The CPU-bound part of a conversion (decoding, resizing, encoding images) on ``--num_proc`` processes.

The converter stays one loop in one process: it reads the release, submits each row's image work, and writes the
rows in submission order (``in_order``), so the output is byte-identical whatever ``num_proc`` is. At most
``window`` jobs are in flight, so memory stays bounded however long the release. Worker processes are forked when
the converter enters ``Workers`` (before it starts progress bars or writers, and in microseconds where a fresh
interpreter would take a second per worker); they ignore Ctrl-C, which the converter handles (one line, no
partial output), and end with it. With ``num_proc=1`` the work runs inline.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
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
    """``with Workers(n) as workers: workers.submit(fn, *args)``: a future of ``fn(*args)``, from ``num_proc``
    processes (inline when 1 or outside the ``with``). ``fn`` must be a module-level function, its arguments and
    result picklable."""

    def __init__(self, num_proc: int | None = None):
        self.num_proc = max(1, num_proc or default_num_proc())
        self.window = self.num_proc * JOBS_PER_PROCESS
        self._pool: Executor | None = None

    def submit(self, fn: Callable[..., R], *args: Any) -> Future[R]:
        return done(fn, *args) if self._pool is None else self._pool.submit(fn, *args)

    def __enter__(self) -> Workers:
        if self.num_proc > 1:
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(self.num_proc, mp_context=context, initializer=_worker_signals)
            # Forked with the converter's objects frozen, a worker's garbage collections skip them instead of
            # writing to (and so copying) every page of the heap it shares with the converter (the larger that
            # heap, e.g. a converter called inside a process that imported torch, the more it saves). Unfrozen
            # again here: the converter's own collections are as before.
            # A heap already frozen (e.g. by a test runner before it forks) is left as it is.
            freeze = gc.get_freeze_count() == 0
            if freeze:
                gc.freeze()
            try:
                self._pool.submit(int).result()  # fork every worker now, from the converter's single thread
            finally:
                if freeze:
                    gc.unfreeze()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _worker_signals() -> None:
    """A worker leaves Ctrl-C to the converter (a terminal sends it to the whole process group) and dies quietly
    on SIGTERM, instead of running the converter's handlers it inherited."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


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
