"""Executors: run tasks in this process or on a local process pool, behind one interface.

A pool is started as soon as it is created (its workers import the pipeline while the main
process is still reading the inputs); tasks carry everything they need, so workers never
inherit open files from the parent (they are spawned, not forked).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class InProcessExecutor:
    """Runs tasks one after another in the calling process (used for --workers 1)."""

    def __init__(self, finalizer: Callable[[], None]) -> None:
        self.finalizer = finalizer

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        self.finalizer()


class LocalPoolExecutor:
    """A pool of spawned worker processes, warmed up with `warmup` at creation."""

    def __init__(self, workers: int, warmup: Callable[[], None]) -> None:
        self.workers = workers
        for name in THREAD_VARIABLES:  # one thread per worker process: the pool is the parallelism
            os.environ.setdefault(name, "1")
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self._warm = [self.pool.submit(warmup) for _ in range(workers)]

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator:
        queue = iter(list(items))
        pending = set()
        for item in queue:  # keep at most 2 tasks per worker in flight
            pending.add(self.pool.submit(fn, item))
            if len(pending) >= 2 * self.workers:
                break
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(self.pool.submit(fn, nxt))
        except BaseException:
            for future in pending:
                future.cancel()
            raise

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def make_executor(workers: int, warmup: Callable[[], None], finalizer: Callable[[], None]):
    """The executor for `--workers N` (in-process when N == 1)."""
    if workers <= 1:
        return InProcessExecutor(finalizer)
    return LocalPoolExecutor(workers, warmup)
